#include "store/schema.hpp"

#include <string>

#include "ticketing/db/connection.hpp"
#include "ticketing/db/pool.hpp"
#include "ticketing/outbox/inbox.hpp"
#include "ticketing/outbox/outbox.hpp"

namespace ticketing::reservation {

std::vector<db::Migration> migrations() {
  std::vector<db::Migration> m;
  m.push_back({1, "catalogue",
               "CREATE TABLE IF NOT EXISTS concerts ("
               " id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
               " title VARCHAR(200) NOT NULL,"
               " venue VARCHAR(200) NOT NULL DEFAULT '',"
               " created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)"
               ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;"
               "CREATE TABLE IF NOT EXISTS schedules ("
               " id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
               " concert_id BIGINT NOT NULL,"
               " starts_at DATETIME(3) NOT NULL,"
               " KEY ix_schedules_concert (concert_id, starts_at),"
               " CONSTRAINT fk_schedules_concert FOREIGN KEY (concert_id) REFERENCES concerts (id)"
               ") ENGINE=InnoDB;"
               // held_by_reservation + hold_expires_at describe the live hold of
               // a HELD seat; version counts every state change.
               "CREATE TABLE IF NOT EXISTS seats ("
               " schedule_id BIGINT NOT NULL,"
               " seat_no INT NOT NULL,"
               " status ENUM('AVAILABLE','HELD','RESERVED') NOT NULL DEFAULT 'AVAILABLE',"
               " price BIGINT NOT NULL,"
               " held_by_reservation BIGINT NULL,"
               " hold_expires_at DATETIME(3) NULL,"
               " version INT NOT NULL DEFAULT 0,"
               " PRIMARY KEY (schedule_id, seat_no),"
               " CONSTRAINT fk_seats_schedule FOREIGN KEY (schedule_id) REFERENCES schedules (id),"
               " CONSTRAINT ck_seat_no CHECK (seat_no BETWEEN 1 AND 50)"
               ") ENGINE=InnoDB;"});
  m.push_back({2, "reservations",
               "CREATE TABLE IF NOT EXISTS reservations ("
               " id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
               " user_id BIGINT NOT NULL,"
               " schedule_id BIGINT NOT NULL,"
               " seat_no INT NOT NULL,"
               " price BIGINT NOT NULL,"
               " status ENUM('HELD','CONFIRMED','EXPIRED','CANCELLED') NOT NULL,"
               " held_at DATETIME(3) NOT NULL,"
               " expires_at DATETIME(3) NOT NULL,"
               " confirmed_at DATETIME(3) NULL,"
               " cancelled_at DATETIME(3) NULL,"
               " payment_id BIGINT NULL,"
               " KEY ix_reservations_user (user_id, status, expires_at),"
               " KEY ix_reservations_seat (schedule_id, seat_no)"
               ") ENGINE=InnoDB;"});
  m.push_back({3, "outbox", outbox::create_table_sql("outbox")});
  m.push_back({4, "processed_events", outbox::inbox_create_table_sql("processed_events")});
  // One row per user that ever held: a hold locks it first, so one user's
  // concurrent holds are counted one after the other (MAX_HOLDS_PER_USER).
  m.push_back({5, "hold_owners",
               "CREATE TABLE IF NOT EXISTS hold_owners (user_id BIGINT NOT NULL PRIMARY KEY) "
               "ENGINE=InnoDB;"});
  return m;
}

int migrate(db::Pool& pool, std::string_view database) {
  return db::apply_migrations(pool, database, migrations());
}

namespace {
struct DemoConcert {
  const char* title;
  const char* venue;
  const char* dates[3];
};
constexpr DemoConcert kDemo[] = {
    {"IU - The Golden Hour",
     "Olympic Stadium",
     {"2027-03-14 19:00:00", "2027-03-15 19:00:00", "2027-03-16 18:00:00"}},
    {"Seoul Philharmonic: Mahler 2",
     "Lotte Concert Hall",
     {"2027-04-02 20:00:00", "2027-04-03 20:00:00", "2027-04-04 16:00:00"}},
    {"Jazz at Midnight",
     "Blue Note Hall",
     {"2027-05-10 23:00:00", "2027-05-11 23:00:00", "2027-05-12 23:00:00"}},
    {"Rock Festival Night",
     "Riverside Park",
     {"2027-06-20 18:30:00", "2027-06-21 18:30:00", "2027-06-22 18:30:00"}},
};

std::int64_t demo_price(int seat_no) {
  if (seat_no <= 10) return 150000;
  if (seat_no <= 30) return 100000;
  return 70000;
}
}  // namespace

int seed_demo_catalogue(db::Pool& pool) {
  auto lease = pool.acquire();
  db::Transaction tx(*lease);
  // Serializes concurrent seeders; the catalogue is loaded once.
  lease->query("SELECT id FROM concerts FOR UPDATE");
  auto existing = lease->query_one("SELECT COUNT(*) AS n FROM concerts");
  if (existing && existing->i64("n") > 0) {
    tx.commit();
    return 0;
  }
  int schedules = 0;
  for (const auto& c : kDemo) {
    auto concert_id = static_cast<std::int64_t>(
        lease->exec("INSERT INTO concerts (title, venue) VALUES (?, ?)", {c.title, c.venue})
            .last_insert_id);
    for (const char* date : c.dates) {
      auto schedule_id = static_cast<std::int64_t>(
          lease
              ->exec("INSERT INTO schedules (concert_id, starts_at) VALUES (?, ?)",
                     {concert_id, date})
              .last_insert_id);
      std::string sql = "INSERT INTO seats (schedule_id, seat_no, price) VALUES ";
      db::Params params;
      for (int seat = 1; seat <= 50; ++seat) {
        sql += seat == 1 ? "(?, ?, ?)" : ", (?, ?, ?)";
        params.emplace_back(schedule_id);
        params.emplace_back(seat);
        params.emplace_back(demo_price(seat));
      }
      lease->exec(sql, params);
      ++schedules;
    }
  }
  tx.commit();
  return schedules;
}

}  // namespace ticketing::reservation
