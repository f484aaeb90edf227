//! pgfleet-client against bare deadpool-postgres: N concurrent tasks of point SELECTs for a
//! fixed time, rounds interleaved (bare, client, bare, client, …), medians reported.
//! Run by `bench/client/run` (see docs/PERFORMANCE.md).
//!
//! Options: --tasks N (16) --seconds S (5) --rounds R (5) --rows N (10000) --pool N (= tasks)
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use pgfleet_client::prometheus_client::registry::Registry;
use pgfleet_client::{FleetPool, PoolConfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const SQL: &str = "SELECT v FROM item WHERE id = $1";

#[derive(Debug, Clone, Copy)]
struct Options {
    tasks: usize,
    seconds: f64,
    rounds: usize,
    rows: i32,
    pool: usize,
}

fn options() -> Options {
    let mut o = Options {
        tasks: 16,
        seconds: 5.0,
        rounds: 5,
        rows: 10_000,
        pool: 0,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = || args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--tasks" => o.tasks = value().parse().unwrap(),
            "--seconds" => o.seconds = value().parse().unwrap(),
            "--rounds" => o.rounds = value().parse().unwrap(),
            "--rows" => o.rows = value().parse().unwrap(),
            "--pool" => o.pool = value().parse().unwrap(),
            // cargo bench passes --bench; ignore anything else.
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    if o.pool == 0 {
        o.pool = o.tasks;
    }
    o
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bare,
    Client,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Bare => "deadpool-postgres",
            Kind::Client => "pgfleet-client",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Round {
    qps: f64,
    p50_us: f64,
    p99_us: f64,
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One query with the bare pool: get, cached statement, query.
async fn bare_query(pool: &Pool, id: i32) {
    let client = pool.get().await.unwrap();
    let statement = client.prepare_cached(SQL).await.unwrap();
    let row = client.query_one(&statement, &[&id]).await.unwrap();
    let _: &str = row.get(0);
}

/// The same through pgfleet-client: a tracked query (acquire metrics, query histogram).
async fn client_query(pool: &FleetPool, id: i32) {
    pool.track("select", "item", "get_item_by_id", async |c| {
        let statement = c.prepare_cached(SQL).await?;
        let row = c.query_one(&statement, &[&id]).await?;
        let _: &str = row.get(0);
        Ok(())
    })
    .await
    .unwrap();
}

async fn round(kind: Kind, bare: &Pool, client: &FleetPool, o: Options, seconds: f64) -> Round {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut handles = Vec::new();
    for t in 0..o.tasks {
        let stop = stop.clone();
        let bare = bare.clone();
        let client = client.clone();
        handles.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::with_capacity(200_000);
            // A cheap per-task LCG: the same id sequence for both pools.
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ t as u64;
            while !stop.load(Ordering::Relaxed) {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let id = ((x >> 33) % o.rows as u64) as i32 + 1;
                let q = Instant::now();
                match kind {
                    Kind::Bare => bare_query(&bare, id).await,
                    Kind::Client => client_query(&client, id).await,
                }
                latencies.push(q.elapsed().as_nanos().min(u128::from(u32::MAX)) as u32);
            }
            latencies
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    Round {
        qps: all.len() as f64 / elapsed,
        p50_us: percentile(&all, 0.50),
        p99_us: percentile(&all, 0.99),
    }
}

fn main() {
    let o = options();
    let cluster = pgfleet_testkit::TestCluster::start_new().expect("a throwaway cluster");
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let admin = cluster.connect("postgres").await;
        admin
            .batch_execute(&format!(
                "CREATE TABLE item (id int PRIMARY KEY, v text NOT NULL);
                 INSERT INTO item SELECT g, md5(g::text) FROM generate_series(1, {}) g;
                 ANALYZE item;",
                o.rows
            ))
            .await
            .unwrap();
        let version: String = admin
            .query_one("SHOW server_version", &[])
            .await
            .unwrap()
            .get(0);

        let bare = Pool::builder(Manager::from_config(
            cluster.config("postgres"),
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        ))
        .max_size(o.pool)
        .runtime(Runtime::Tokio1)
        .build()
        .unwrap();
        let url = format!(
            "postgresql://{}@{}:{}/postgres?sslmode=disable",
            cluster.superuser(),
            cluster.host(),
            cluster.port()
        );
        let client = FleetPool::builder("bench")
            .url(&url)
            .config(PoolConfig {
                max_size: o.pool,
                min_idle: o.pool.min(10),
                ..PoolConfig::default()
            })
            .build()
            .unwrap();
        let mut registry = Registry::default();
        client.register_metrics(&mut registry);

        println!(
            "PostgreSQL {version}; {} tasks, pool of {}, {} s per round, {} rounds each (interleaved), {} rows, {} tokio workers",
            o.tasks, o.pool, o.seconds, o.rounds, o.rows, workers
        );
        // Warm both pools (connections, prepared statements, the server's cache).
        round(Kind::Bare, &bare, &client, o, 1.0).await;
        round(Kind::Client, &bare, &client, o, 1.0).await;

        let mut results: Vec<(Kind, Vec<Round>)> =
            vec![(Kind::Bare, Vec::new()), (Kind::Client, Vec::new())];
        println!("{:>5}  {:<18} {:>10} {:>9} {:>9}", "round", "pool", "queries/s", "p50 µs", "p99 µs");
        for r in 0..o.rounds {
            // Alternate which goes first, so neither always follows the other.
            let order = if r % 2 == 0 {
                [Kind::Bare, Kind::Client]
            } else {
                [Kind::Client, Kind::Bare]
            };
            for kind in order {
                let res = round(kind, &bare, &client, o, o.seconds).await;
                println!(
                    "{:>5}  {:<18} {:>10.0} {:>9.1} {:>9.1}",
                    r + 1,
                    kind.name(),
                    res.qps,
                    res.p50_us,
                    res.p99_us
                );
                results
                    .iter_mut()
                    .find(|(k, _)| *k == kind)
                    .unwrap()
                    .1
                    .push(res);
            }
        }
        let med = |kind: Kind, f: fn(&Round) -> f64| {
            median(
                results
                    .iter()
                    .find(|(k, _)| *k == kind)
                    .unwrap()
                    .1
                    .iter()
                    .map(f)
                    .collect(),
            )
        };
        println!();
        println!("medians of {} rounds", o.rounds);
        println!("{:<18} {:>10} {:>9} {:>9}", "pool", "queries/s", "p50 µs", "p99 µs");
        for kind in [Kind::Bare, Kind::Client] {
            println!(
                "{:<18} {:>10.0} {:>9.1} {:>9.1}",
                kind.name(),
                med(kind, |r| r.qps),
                med(kind, |r| r.p50_us),
                med(kind, |r| r.p99_us)
            );
        }
        let ratio = med(Kind::Client, |r| r.qps) / med(Kind::Bare, |r| r.qps);
        let p99 = med(Kind::Client, |r| r.p99_us) / med(Kind::Bare, |r| r.p99_us);
        // Paired: each round's client figure against the bare figure of the same round.
        let pairs: Vec<f64> = (0..o.rounds)
            .map(|i| results[1].1[i].qps / results[0].1[i].qps)
            .collect();
        println!();
        let p99_pairs: Vec<f64> = (0..o.rounds)
            .map(|i| results[1].1[i].p99_us / results[0].1[i].p99_us)
            .collect();
        let list = |v: &[f64]| {
            v.iter()
                .map(|p| format!("{p:.3}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!(
            "throughput ratio (client / bare): {ratio:.3} of the medians, {:.3} median of the rounds' ratios (target >= 0.97; per round: {})",
            median(pairs.clone()),
            list(&pairs)
        );
        println!(
            "p99 ratio (client / bare): {p99:.3} of the medians, {:.3} median of the rounds' ratios (target <= 1.05; per round: {})",
            median(p99_pairs.clone()),
            list(&p99_pairs)
        );
        let text = {
            let mut t = String::new();
            pgfleet_client::prometheus_client::encoding::text::encode(&mut t, &registry).unwrap();
            t
        };
        let count = text
            .lines()
            .find(|l| l.starts_with("database_query_duration_seconds_count"))
            .unwrap_or("");
        println!("client metrics: {count}");
        client.close(Duration::from_secs(5)).await;
    });
}
