//! Durable appends per second (what each resolution costs the backend) with
//! 1, 8 and 32 concurrent writers, each with its own connection pool as a
//! separate `runner exec` has: the PostgreSQL backend, the file backend,
//! and the ceiling, a bare SQL loop doing the same head-row-locked insert
//! without the backend's checks, sealing and MACs. An ignored test, run by
//! `bench/postgres.sh` (BENCHMARKS.md).

use std::sync::Barrier;
use std::time::{Duration, Instant};

use super::PgState;
use super::tests::pg_cluster::PgCluster;
use super::tests::{connect, document, key};
use crate::audit::{AuditLog, Event, Hash, RunId};
use crate::names::{AgentName, ProjectName, SecretName};

/// How long each measurement runs.
const WINDOW: Duration = Duration::from_secs(5);

fn resolve() -> Event {
    Event::SecretResolve {
        run: RunId::random().unwrap(),
        agent: AgentName::new("support-analysis").unwrap(),
        project: ProjectName::new("analytics").unwrap(),
        secret: SecretName::new("posthog-read").unwrap(),
        version: 1,
    }
}

/// Runs `work` on `writers` threads for [`WINDOW`]; operations per second.
fn rate<S: Send>(writers: usize, setup: impl Fn() -> S + Sync, work: impl Fn(&S) + Sync) -> f64 {
    let barrier = Barrier::new(writers);
    let total: u64 = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|_| {
                scope.spawn(|| {
                    let state = setup();
                    barrier.wait();
                    let (start, mut n) = (Instant::now(), 0u64);
                    while start.elapsed() < WINDOW {
                        work(&state);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    total as f64 / WINDOW.as_secs_f64()
}

/// The ceiling: BEGIN, lock the head, insert a line of a record's length,
/// move the head, COMMIT; with the backend's own pool and runtime.
fn bare_append(state: &PgState, line: &str) {
    let line = line.to_owned();
    state
        .db()
        .run(move |pool| async move {
            let mut client = pool.get().await.map_err(super::conn::pool_err)?;
            let tx = client
                .transaction()
                .await
                .map_err(super::conn::db_err("begin"))?;
            let row = tx
                .query_one("SELECT seq + 1 FROM bench_head FOR UPDATE", &[])
                .await
                .map_err(super::conn::db_err("lock"))?;
            let next: i64 = row.get(0);
            tx.execute(
                "INSERT INTO bench_record (log, seq, kind, host, line) \
                 VALUES ('bench', $1, 'secret.resolve', 'bench', $2)",
                &[&next, &line],
            )
            .await
            .map_err(super::conn::db_err("insert"))?;
            tx.execute("UPDATE bench_head SET seq = $1", &[&next])
                .await
                .map_err(super::conn::db_err("advance"))?;
            tx.commit().await.map_err(super::conn::db_err("commit"))
        })
        .unwrap();
}

#[test]
#[ignore = "a benchmark: bench/postgres.sh"]
fn bench_durable_appends() {
    let Some(pg) = PgCluster::start_durable() else {
        return;
    };
    connect(&pg).initialise(document(0), key()).unwrap();
    pg.psql(
        "CREATE TABLE bench_record (LIKE audit_record INCLUDING ALL); \
         CREATE TABLE bench_head (seq bigint NOT NULL); INSERT INTO bench_head VALUES (0)",
    );
    let files = tempfile::tempdir().unwrap();
    crate::store::Store::init(files.path()).unwrap();
    let store = crate::store::Store::open(files.path()).unwrap();
    let file_key = || crate::audit::CheckpointKey::from_store(&store);
    AuditLog::create_anchored(files.path(), file_key()).unwrap();
    let line = crate::audit::Record::seal(
        crate::audit::LogId::random().unwrap(),
        1,
        time::OffsetDateTime::now_utc(),
        Hash::ZERO,
        resolve(),
    )
    .unwrap()
    .authenticated(&key())
    .to_line()
    .unwrap();
    println!("writers  postgres/s  file/s  bare-sql/s  postgres/bare");
    for writers in [1, 8, 32] {
        let pg_rate = rate(
            writers,
            || connect(&pg),
            |s| {
                s.append(vec![resolve()], Some(key()), true).unwrap();
            },
        );
        let file_rate = rate(
            writers,
            || AuditLog::open(files.path()).unwrap().anchored(file_key()),
            |log| drop(log.append(resolve()).unwrap()),
        );
        let bare = rate(writers, || connect(&pg), |s| bare_append(s, &line));
        println!(
            "{writers:>7}  {pg_rate:>10.0}  {file_rate:>6.0}  {bare:>10.0}  {:>12.0}%",
            100.0 * pg_rate / bare
        );
    }
}
