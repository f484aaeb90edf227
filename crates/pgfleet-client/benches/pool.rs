//! pgfleet-client against bare deadpool-postgres: N concurrent tasks of point SELECTs for a
//! fixed time, rounds interleaved (bare, client, client without metrics, in an order that
//! rotates each round), medians reported. The third pool is pgfleet-client with
//! `record_metrics: false`: the difference to the second is what the metrics path costs.
//! Run by `bench/client/run` (see docs/PERFORMANCE.md).
//!
//! Options: --tasks N (16) --seconds S (5) --rounds R (10) --rows N (10000) --pool N (= tasks)
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
        rounds: 10,
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
    /// pgfleet-client with `record_metrics: false`.
    Unrecorded,
}

const KINDS: [Kind; 3] = [Kind::Bare, Kind::Client, Kind::Unrecorded];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Bare => "deadpool-postgres",
            Kind::Client => "pgfleet-client",
            Kind::Unrecorded => "client, no metrics",
        }
    }
}

/// The pools under test.
#[derive(Clone)]
struct Pools {
    bare: Pool,
    client: FleetPool,
    unrecorded: FleetPool,
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

async fn round(kind: Kind, pools: &Pools, o: Options, seconds: f64) -> Round {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut handles = Vec::new();
    for t in 0..o.tasks {
        let stop = stop.clone();
        let pools = pools.clone();
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
                    Kind::Bare => bare_query(&pools.bare, id).await,
                    Kind::Client => client_query(&pools.client, id).await,
                    Kind::Unrecorded => client_query(&pools.unrecorded, id).await,
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
        let fleet_pool = |record_metrics: bool| {
            FleetPool::builder("bench")
                .url(&url)
                .config(PoolConfig {
                    max_size: o.pool,
                    min_idle: o.pool.min(10),
                    record_metrics,
                    ..PoolConfig::default()
                })
                .build()
                .unwrap()
        };
        let client = fleet_pool(true);
        let pools = Pools {
            bare,
            client: client.clone(),
            unrecorded: fleet_pool(false),
        };
        let mut registry = Registry::default();
        client.register_metrics(&mut registry);

        println!(
            "PostgreSQL {version}; {} tasks, pool of {}, {} s per round, {} rounds each (interleaved), {} rows, {} tokio workers",
            o.tasks, o.pool, o.seconds, o.rounds, o.rows, workers
        );
        // Warm every pool (connections, prepared statements, the server's cache).
        for kind in KINDS {
            round(kind, &pools, o, 1.0).await;
        }

        let mut results: Vec<Vec<Round>> = vec![Vec::new(); KINDS.len()];
        println!("{:>5}  {:<18} {:>10} {:>9} {:>9}", "round", "pool", "queries/s", "p50 µs", "p99 µs");
        for r in 0..o.rounds {
            // The order rotates, so no pool always follows the same one.
            for k in 0..KINDS.len() {
                let index = (r + k) % KINDS.len();
                let kind = KINDS[index];
                let res = round(kind, &pools, o, o.seconds).await;
                println!(
                    "{:>5}  {:<18} {:>10.0} {:>9.1} {:>9.1}",
                    r + 1,
                    kind.name(),
                    res.qps,
                    res.p50_us,
                    res.p99_us
                );
                results[index].push(res);
            }
        }
        let med = |index: usize, f: fn(&Round) -> f64| median(results[index].iter().map(f).collect());
        println!();
        println!("medians of {} rounds", o.rounds);
        println!("{:<18} {:>10} {:>9} {:>9}", "pool", "queries/s", "p50 µs", "p99 µs");
        for (index, kind) in KINDS.iter().enumerate() {
            println!(
                "{:<18} {:>10.0} {:>9.1} {:>9.1}",
                kind.name(),
                med(index, |r| r.qps),
                med(index, |r| r.p50_us),
                med(index, |r| r.p99_us)
            );
        }
        // Paired: each round's figure against the bare pool's in the same round.
        let paired = |index: usize, f: fn(&Round) -> f64| -> Vec<f64> {
            (0..o.rounds)
                .map(|i| f(&results[index][i]) / f(&results[0][i]))
                .collect()
        };
        let list = |v: &[f64]| {
            v.iter()
                .map(|p| format!("{p:.3}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!();
        for (index, kind) in KINDS.iter().enumerate().skip(1) {
            let qps = paired(index, |r| r.qps);
            let p99 = paired(index, |r| r.p99_us);
            println!(
                "{} / bare, throughput: {:.3} of the medians, {:.3} median of the rounds' ratios (target >= 0.97; per round: {})",
                kind.name(),
                med(index, |r| r.qps) / med(0, |r| r.qps),
                median(qps.clone()),
                list(&qps)
            );
            println!(
                "{} / bare, p99: {:.3} of the medians, {:.3} median of the rounds' ratios (target <= 1.05; per round: {})",
                kind.name(),
                med(index, |r| r.p99_us) / med(0, |r| r.p99_us),
                median(p99.clone()),
                list(&p99)
            );
        }
        // What recording costs: per query, the wall time of the pool at full load (1/qps) with
        // metrics minus without, in the same rounds.
        let cost: Vec<f64> = (0..o.rounds)
            .map(|i| 1e9 / results[1][i].qps - 1e9 / results[2][i].qps)
            .collect();
        println!(
            "metrics path: {:.0} ns of wall time per query (median of the rounds: {}), {:.1} µs on the p50",
            median(cost.clone()),
            cost.iter().map(|c| format!("{c:.0}")).collect::<Vec<_>>().join(" "),
            med(1, |r| r.p50_us) - med(2, |r| r.p50_us)
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
