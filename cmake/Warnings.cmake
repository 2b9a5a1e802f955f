add_library(ticketing_warnings INTERFACE)
target_compile_options(ticketing_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wcast-align -Wunused -Woverloaded-virtual
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
if(TICKETING_WERROR)
  target_compile_options(ticketing_warnings INTERFACE -Werror)
endif()
