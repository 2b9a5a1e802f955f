// Writes a JSON Schema (draft 2020-12) for each Strimzi custom resource named on the
// command line, derived from Strimzi's published API model (Maven io.strimzi:api, the
// Java classes its operator reads resources into and its CRDs are generated from).
// Strimzi's CRD YAML files are not published to any registry reachable here, so
// tests/k8s/run.sh builds their schemas this way.
//
//   java StrimziSchema OUT_DIR Kind=fully.qualified.Class ...
//
// What the schema checks: every field name (unknown fields are rejected, as the API
// server's strict field validation would), field types (object / array / string /
// integer / number / boolean), enum values, discriminated subtypes (listener
// authentication, storage, ACL resources ... by their "type"), and required fields
// (@JsonProperty(required = true)). Not checked: Strimzi's own @Minimum / @Pattern
// annotations (their classes ship only in Strimzi's unpublished crd-generator), and
// the insides of embedded Kubernetes types (pod templates, affinity ...), which are
// accepted as any object.
import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import com.fasterxml.jackson.databind.BeanDescription;
import com.fasterxml.jackson.databind.DeserializationConfig;
import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.introspect.BeanPropertyDefinition;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.File;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

public final class StrimziSchema {
  private static final ObjectMapper MAPPER = new ObjectMapper();
  private final DeserializationConfig config = MAPPER.getDeserializationConfig();
  private final Map<String, ObjectNode> defs = new TreeMap<>();

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: StrimziSchema OUT_DIR Kind=fully.qualified.Class ...");
      System.exit(2);
    }
    File out = new File(args[0]);
    out.mkdirs();
    MAPPER.enable(SerializationFeature.INDENT_OUTPUT);
    for (int i = 1; i < args.length; i++) {
      String[] kv = args[i].split("=", 2);
      StrimziSchema gen = new StrimziSchema();
      ObjectNode root = gen.resource(Class.forName(kv[1]));
      File f = new File(out, kv[0] + ".json");
      MAPPER.writeValue(f, root);
      System.out.println("StrimziSchema: " + kv[0] + " -> " + f + " (" + gen.defs.size() + " types)");
    }
  }

  // The resource itself: apiVersion, kind, metadata (any object), spec, status (ignored).
  private ObjectNode resource(Class<?> cls) {
    ObjectNode root = MAPPER.createObjectNode();
    root.put("$schema", "https://json-schema.org/draft/2020-12/schema");
    root.put("type", "object");
    ObjectNode props = root.putObject("properties");
    props.putObject("apiVersion").put("type", "string");
    props.putObject("kind").put("type", "string");
    props.putObject("metadata").put("type", "object");
    props.putObject("status").put("type", "object");
    JavaType type = MAPPER.getTypeFactory().constructType(cls);
    for (BeanPropertyDefinition p : properties(type)) {
      if (p.getName().equals("spec")) {
        props.set("spec", schema(p.getPrimaryType()));
      }
    }
    if (!props.has("spec")) {
      throw new IllegalStateException(cls + " has no spec property");
    }
    root.put("additionalProperties", false);
    root.putArray("required").add("apiVersion").add("kind").add("metadata").add("spec");
    ObjectNode d = root.putObject("$defs");
    defs.forEach(d::set);
    return root;
  }

  private List<BeanPropertyDefinition> properties(JavaType type) {
    BeanDescription desc = config.introspect(type);
    List<BeanPropertyDefinition> out = new ArrayList<>();
    for (BeanPropertyDefinition p : desc.findProperties()) {
      // A setter, a creator parameter, or a field that Jackson fills from a getter's
      // property (its INFER_PROPERTY_MUTATORS default).
      if (p.getMutator() != null && !p.getName().equals("additionalProperties")) {
        out.add(p);
      }
    }
    return out;
  }

  private ObjectNode schema(JavaType t) {
    ObjectNode s = MAPPER.createObjectNode();
    Class<?> c = t.getRawClass();
    if (c == boolean.class || c == Boolean.class) {
      s.put("type", "boolean");
    } else if (c == int.class || c == Integer.class || c == long.class || c == Long.class
        || c == short.class || c == Short.class) {
      s.put("type", "integer");
    } else if (c == double.class || c == Double.class || c == float.class || c == Float.class
        || c == java.math.BigDecimal.class) {
      s.put("type", "number");
    } else if (CharSequence.class.isAssignableFrom(c)) {
      s.put("type", "string");
    } else if (c.isEnum()) {
      s.put("type", "string");
      ArrayNode values = s.putArray("enum");
      for (Object constant : c.getEnumConstants()) {
        values.add(MAPPER.valueToTree(constant).asText());
      }
    } else if (t.isMapLikeType()) {
      s.put("type", "object");
      s.set("additionalProperties", schema(t.getContentType()));
    } else if (t.isCollectionLikeType() || t.isArrayType()) {
      s.put("type", "array");
      s.set("items", schema(t.getContentType()));
    } else if (c.getName().equals("io.fabric8.kubernetes.api.model.IntOrString")
        || c.getName().equals("io.fabric8.kubernetes.api.model.Quantity")) {
      ArrayNode any = s.putArray("anyOf");
      any.addObject().put("type", "integer");
      any.addObject().put("type", "string");
    } else if (c.getName().startsWith("io.strimzi.")) {
      s.put("$ref", "#/$defs/" + c.getName());
      define(t);
    } else {
      // java.lang.Object, JsonNode, embedded Kubernetes types: not checked inside.
      return s;
    }
    return s;
  }

  private void define(JavaType t) {
    Class<?> c = t.getRawClass();
    String name = c.getName();
    if (defs.containsKey(name)) {
      return;
    }
    ObjectNode d = MAPPER.createObjectNode();
    defs.put(name, d);  // before recursing: types may refer to themselves
    JsonSubTypes sub = c.getAnnotation(JsonSubTypes.class);
    JsonTypeInfo info = c.getAnnotation(JsonTypeInfo.class);
    boolean isAbstract = c.isInterface() || Modifier.isAbstract(c.getModifiers());
    if (sub != null && info != null && isAbstract) {
      ArrayNode one = d.putArray("oneOf");
      for (JsonSubTypes.Type st : sub.value()) {
        JavaType stt = MAPPER.getTypeFactory().constructType(st.value());
        ObjectNode variant = object(stt, info.property());
        variant.with("properties").putObject(info.property()).put("const", st.name());
        one.add(variant);
      }
      return;
    }
    d.setAll(object(t, null));
  }

  private ObjectNode object(JavaType t, String discriminator) {
    ObjectNode o = MAPPER.createObjectNode();
    o.put("type", "object");
    ObjectNode props = o.putObject("properties");
    ArrayNode required = MAPPER.createArrayNode();
    for (BeanPropertyDefinition p : properties(t)) {
      if (p.getName().equals(discriminator)) {
        continue;
      }
      props.set(p.getName(), schema(p.getPrimaryType()));
      if (p.isRequired()) {
        required.add(p.getName());
      }
    }
    if (discriminator != null) {
      required.add(discriminator);
    }
    o.put("additionalProperties", false);
    if (required.size() > 0) {
      o.set("required", required);
    }
    return o;
  }
}
