//! `bench report`: turns the JSON results in a directory into `BENCHMARKS.md` and PNG plots
//! beside it. The results are committed with the report, so the figures can be re-rendered
//! without re-running and every number traces back to a run (machine, command, commit).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::churn::ChurnReport;
use crate::fanout::{FanoutReport, Side};
use crate::functions::FunctionsReport;
use crate::hammer::HammerReport;
use crate::hostile::HostileReport;
use crate::list::ListReport;
use crate::list::sweep::SweepReport;
use crate::peer::PeerReport;
use crate::push::PushReport;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The ratio of store to floor the listing aims to stay under.
pub const RATIO_GOAL: f64 = 1.15;

/// Everything found in a results directory.
#[derive(Debug, Default)]
pub struct Results {
    /// `list-*.json`, one per backend, in backend order.
    pub lists: Vec<ListReport>,
    /// `fanout.json`.
    pub fanout: Option<FanoutReport>,
    /// `fanout-*.json`: runs on other stores or with several nodes, each its own table.
    pub fanout_variants: Vec<FanoutReport>,
    /// `sweep-*.json`: a churned room's walk before and after one sweep, per backend.
    pub sweeps: Vec<SweepReport>,
    /// `churn-*.json`: a node's memory under long connect/disconnect churn, per backend.
    pub churns: Vec<ChurnReport>,
    /// `hostile.json`: what one hostile client of each kind pins.
    pub hostile: Option<HostileReport>,
    /// `functions.json`: a function call on the Runtime-API path and the HTTP path.
    pub functions: Option<FunctionsReport>,
    /// `push.json`: one `PostToConnection` through the push API beside a bare handler.
    pub push: Option<PushReport>,
    /// `peer-serverless-offline.json`: the fan-out beside serverless-offline.
    pub peer: Option<PeerReport>,
    /// `hammer-*.json`: the workload that hung sled, per store.
    pub hammers: Vec<HammerReport>,
    /// `notes.md`: the team's reading of the figures (what explains a ratio, what was
    /// fixed because of one), included in the report as written.
    pub notes: Option<String>,
}

impl Results {
    /// Reads `dir`.
    pub fn read(dir: &Path) -> Result<Results, BoxError> {
        let mut results = Results::default();
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .collect();
        paths.sort();
        for path in paths {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let parse_error = |e: serde_json::Error| format!("{}: {e}", path.display());
            if name.starts_with("list-") && name.ends_with(".json") {
                let text = std::fs::read_to_string(&path)?;
                results
                    .lists
                    .push(serde_json::from_str(&text).map_err(parse_error)?);
            } else if name.starts_with("sweep-") && name.ends_with(".json") {
                let text = std::fs::read_to_string(&path)?;
                results
                    .sweeps
                    .push(serde_json::from_str(&text).map_err(parse_error)?);
            } else if name.starts_with("churn-") && name.ends_with(".json") {
                let text = std::fs::read_to_string(&path)?;
                results
                    .churns
                    .push(serde_json::from_str(&text).map_err(parse_error)?);
            } else if name.starts_with("hammer-") && name.ends_with(".json") {
                let text = std::fs::read_to_string(&path)?;
                results
                    .hammers
                    .push(serde_json::from_str(&text).map_err(parse_error)?);
            } else if name == "hostile.json" {
                let text = std::fs::read_to_string(&path)?;
                results.hostile = Some(serde_json::from_str(&text).map_err(parse_error)?);
            } else if name == "functions.json" {
                let text = std::fs::read_to_string(&path)?;
                results.functions = Some(serde_json::from_str(&text).map_err(parse_error)?);
            } else if name == "peer-serverless-offline.json" {
                let text = std::fs::read_to_string(&path)?;
                results.peer = Some(serde_json::from_str(&text).map_err(parse_error)?);
            } else if name == "push.json" {
                let text = std::fs::read_to_string(&path)?;
                results.push = Some(serde_json::from_str(&text).map_err(parse_error)?);
            } else if name == "notes.md" {
                results.notes = Some(std::fs::read_to_string(&path)?);
            } else if name == "fanout.json" {
                let text = std::fs::read_to_string(&path)?;
                results.fanout = Some(serde_json::from_str(&text).map_err(parse_error)?);
            } else if name.starts_with("fanout-") && name.ends_with(".json") {
                let text = std::fs::read_to_string(&path)?;
                results
                    .fanout_variants
                    .push(serde_json::from_str(&text).map_err(parse_error)?);
            }
        }
        // Embedded first, then servers, then object stores, whatever the file names.
        let rank = |backend: &str| {
            [
                "sled",
                "sqlite",
                "postgres",
                "mysql",
                "redis",
                "redis-cluster",
                "s3",
                "oss",
            ]
            .iter()
            .position(|b| *b == backend)
            .unwrap_or(usize::MAX)
        };
        results.lists.sort_by_key(|list| rank(&list.backend));
        results.sweeps.sort_by_key(|sweep| rank(&sweep.backend));
        results.churns.sort_by_key(|churn| rank(&churn.backend));
        results.hammers.sort_by_key(|hammer| rank(&hammer.store));
        if results.lists.is_empty() && results.fanout.is_none() {
            return Err(
                format!("no results (list-*.json, fanout.json) in {}", dir.display()).into(),
            );
        }
        Ok(results)
    }
}

/// Writes `BENCHMARKS.md` and its plots into `out`; returns the files written.
pub fn write(results: &Results, out: &Path, font: &Path) -> Result<Vec<PathBuf>, BoxError> {
    std::fs::create_dir_all(out)?;
    register_font(font)?;
    let mut written = Vec::new();
    let mut plots = Vec::new();
    if !results.lists.is_empty() {
        let path = out.join("bench-list-latency.png");
        plot_list_latency(&results.lists, &path)?;
        plots.push((
            "Room walk time vs N (store solid, floor dashed)",
            path.clone(),
        ));
        written.push(path);
        if results.lists.iter().any(|l| l.price.is_some()) {
            let path = out.join("bench-list-cost.png");
            plot_list_cost(&results.lists, &path)?;
            plots.push((
                "Cost of one million broadcasts vs N (object stores)",
                path.clone(),
            ));
            written.push(path);
        }
    }
    if let Some(fanout) = &results.fanout {
        let path = out.join("bench-fanout-latency.png");
        plot_fanout(fanout, &path)?;
        plots.push(("Broadcast latency vs clients", path.clone()));
        written.push(path);
    }
    let markdown = render_markdown(results, &plots);
    let path = out.join("BENCHMARKS.md");
    std::fs::write(&path, markdown)?;
    written.push(path);
    Ok(written)
}

fn register_font(font: &Path) -> Result<(), BoxError> {
    let bytes = std::fs::read(font).map_err(|e| {
        format!(
            "cannot read the plot font {} ({e}); pass --font <file.ttf> \
             (Debian: apt-get install fonts-dejavu-core)",
            font.display()
        )
    })?;
    // plotters keeps fonts for the life of the process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| format!("{} is not a usable TrueType font", font.display()))?;
    Ok(())
}

fn ms(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

fn render_markdown(results: &Results, plots: &[(&str, PathBuf)]) -> String {
    let mut md = String::new();
    md.push_str("# Benchmarks\n\n");
    md.push_str(
        "Written by `cargo run --release -p bench -- report` from the JSON results in \
         `bench/results/` (each holds its machine, command and commit). Every figure is \
         measured on the machine named beside it; none is estimated. How to reproduce: run \
         the command shown above each table, then `report`.\n\n",
    );
    if let Some(notes) = &results.notes {
        md.push_str("## Reading the figures\n\n");
        md.push_str(notes.trim_end());
        md.push_str("\n\n");
    }
    if !results.lists.is_empty() {
        md.push_str("## Listing cost: one full walk of a room's live connections\n\n");
        md.push_str(
            "The room holds N live connections plus N/2 expired ones spread among them; \
             another room holds N more; the backend is left to settle after the fill (sled: \
             its log flushed). A walk lists every live member as a broadcast does \
             (`list_room`). The *floor* is the same listing with the backend's raw client \
             and no store logic: a sled prefix scan of the room's index range, reading each \
             entry's expiry to keep the live ones; one `SELECT \
             id, endpoint, expires_at … WHERE room = ? AND expires_at > ? ORDER BY id` \
             (rusqlite, or a native sqlx pool; PostgreSQL's with the store's `expires_at + 0`, \
             which keeps the expiry index out of its plan); on Redis, pages of 1,000 ids by `ZRANGE … \
             BYLEX LIMIT` with one `ZMSCORE` of their expiries and one `HMGET` of their \
             endpoints each (plain commands, no script, no filtering); \
             `ListObjectsV2` pages over the room prefix; on DynamoDB, the store's strongly \
             consistent `Query` pages of the room's partition (the same projection and \
             lease filter) with the bare SDK. \
             *ratio* = store p50 / floor p50; the goal is ≤ 1.15 (issue #11 asks ≤ 1.3 at \
             N = 10,000 and 100,000 on sled, SQLite and PostgreSQL). One run per table: \
             the spread between runs is in `bench/results/notes.md`.\n\n",
        );
        for list in &results.lists {
            let _ = writeln!(md, "### {}\n", list.backend);
            let _ = writeln!(
                md,
                "Machine: {}; run {} at commit `{}`.  \nCommand: `{}`\n",
                list.machine.describe(),
                list.machine.date,
                list.machine.commit,
                list.command
            );
            if let Some(price) = &list.price {
                let _ = writeln!(
                    md,
                    "Price: {} — {} {} per 1,000 {} (list price as of {}; the run \
                     itself could not re-read it).\n",
                    price.provider, price.per_thousand, price.currency, price.unit, price.as_of
                );
            }
            md.push_str(
                "| N | store p50 ms | store p95 ms | floor p50 ms | floor p95 ms | ratio | ≤ 1.15 | requests/walk store · floor | floor rows · bytes | cost / 1M broadcasts |\n\
                 |---:|---:|---:|---:|---:|---:|:---:|---:|---:|---:|\n",
            );
            for row in &list.rows {
                let requests = match row.store_requests {
                    Some(store) => format!("{store} · {}", row.floor_requests),
                    None => format!("– · {}", row.floor_requests),
                };
                let cost = match (&list.price, row.cost_per_million) {
                    (Some(price), Some(cost)) => format!("{cost:.2} {}", price.currency),
                    _ => "no per-request price".to_owned(),
                };
                // DynamoDB bills read units, not requests: say how many a walk took, and
                // what a scan of the whole table (AWS's sample, per message) takes.
                let cost = match (row.store_read_units, row.scan_read_units) {
                    (Some(walk), Some(scan)) => {
                        format!("{cost} ({walk:.1} RRU/walk; a table scan: {scan:.1} RRU)")
                    }
                    (Some(walk), None) => format!("{cost} ({walk:.1} RRU/walk)"),
                    _ => cost,
                };
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {:.2} | {} | {} | {} · {} | {} |",
                    row.n,
                    ms(row.store.p50_ms),
                    ms(row.store.p95_ms),
                    ms(row.floor.p50_ms),
                    ms(row.floor.p95_ms),
                    row.ratio,
                    if row.ratio <= RATIO_GOAL {
                        "yes"
                    } else {
                        "**no**"
                    },
                    requests,
                    row.floor_rows,
                    row.floor_bytes,
                    cost
                );
            }
            md.push('\n');
        }
    }
    if !results.sweeps.is_empty() {
        sweep_tables(&mut md, &results.sweeps);
    }
    if !results.hammers.is_empty() {
        hammer_table(&mut md, &results.hammers);
    }
    if !results.churns.is_empty() {
        churn_tables(&mut md, &results.churns);
    }
    if let Some(fanout) = &results.fanout {
        md.push_str("## Broadcast fan-out through the gateway\n\n");
        let _ = writeln!(
            md,
            "N clients over loopback in one room of a gateway node with the chat functions \
             in process and connections in {} (the embedded default store: SQLite); one \
             client sends. Latency = send → the last of the other N−1 clients received it (p50/p99 \
             over the timed messages, sent one at a time). Deliveries/s = messages × (N−1) / time, \
             for a run of messages sent with 16 in flight. RSS/connection = (server RSS with N idle \
             clients − RSS before) / N. Join s = time for all N to connect (64 at a time) \
             and be welcomed, and, for the gateway, for a presence notice to report all N \
             online. The *floor* is a bare tokio-tungstenite broadcast \
             server (one `broadcast` channel, no functions, no store), driven by the same \
             clients, with the library's defaults and one flush per frame; the *tuned floor* \
             is the same server with the gateway's read buffer (1 KiB) and its gather size \
             (16 KiB) as the write buffer, and one flush per batch of queued frames; the *raw floor* encodes each frame once and writes \
             every frame queued for a socket with one write (no WebSocket library, no \
             per-connection framing state): as close to the machine's limit as a tokio \
             server gets. CPU µs/delivery = the server process's user + system CPU time \
             during the burst ÷ its deliveries (with functions over HTTP, the function \
             server's too): unlike deliveries/s, it does not count the clients, which \
             share the machine's cores with the server. Every server sends the chat's own \
             line (its JSON with the sender's name, the text, the time and the online count, \
             encoded once per line), so the bytes on the wire match (*line bytes*: the \
             longest a client received); where that column shows –, the run predates it and \
             the floors forwarded the client's 30-byte frame against the chat's 87-byte line. \
             With `--repeat N`, \
             each server's figures are its round with the median CPU per delivery. Ratios \
             are gateway / floor, and for CPU gateway / raw floor.\n\n{}",
            fanout.store,
            provenance(fanout)
        );
        fanout_table(&mut md, fanout);
        md.push('\n');
        for variant in &results.fanout_variants {
            if variant.functions == "http" {
                let _ = writeln!(
                    md,
                    "### The HTTP-function path: {} gateway node(s), the chat's functions \
                     over HTTP on {}\n\n\
                     The same measurement with the chat's functions in a process of their \
                     own beside the node (as `chat-functions` runs them): every event is an \
                     AWS Lambda proxy invocation over HTTP, and every broadcast a batch push \
                     back through the node's push API. The gateway's figures (RSS \
                     included) are the node's alone; the function server shares the cores.\n\n{}",
                    variant.nodes,
                    variant.store,
                    provenance(variant)
                );
            } else if variant.nodes == 1 {
                let _ = writeln!(
                    md,
                    "### The same on {}\n\n\
                     The same measurement, one node, the chat linked in, its connections \
                     in another store (its machine, date and commit below: compare with \
                     the table above only where they match).\n\n{}",
                    variant.store,
                    provenance(variant)
                );
            } else {
                let link = variant.rows.first().and_then(|row| row.link.as_deref());
                let _ = writeln!(
                    md,
                    "### {} gateway node(s) over {}, linked over {}\n\n\
                     The same measurement with the clients split evenly across the nodes, \
                     which share one store; a node reaches another's clients {}. RSS is \
                     the nodes' together.\n\n{}",
                    variant.nodes,
                    variant.store,
                    link.unwrap_or("http"),
                    match link {
                        Some("nats") => {
                            "over NATS (`--node-link`): one binary request per node and \
                             broadcast, answered with what the node did"
                        }
                        _ =>
                            "through its push API over HTTP (one JSON batch per node and broadcast)",
                    },
                    provenance(variant)
                );
            }
            fanout_table(&mut md, variant);
            let ratios: Vec<String> = variant
                .rows
                .iter()
                .filter_map(|row| {
                    let one = row.one_node.as_ref()?;
                    Some(format!(
                        "{} clients: {:.0} against {:.0} deliveries/s, **{:.2}×**",
                        row.clients,
                        row.gateway.deliveries_per_sec,
                        one.deliveries_per_sec,
                        row.ratio_to_one_node.unwrap_or(0.0)
                    ))
                })
                .collect();
            if !ratios.is_empty() {
                let _ = writeln!(
                    md,
                    "\n{} nodes against one node alone on the same store, in the same run: {}.",
                    variant.nodes,
                    ratios.join("; ")
                );
            }
            md.push('\n');
        }
    }
    if let Some(hostile) = &results.hostile {
        hostile_table(&mut md, hostile);
    }
    if let Some(peer) = &results.peer {
        peer_table(&mut md, peer);
    }
    if let Some(push) = &results.push {
        push_table(&mut md, push);
    }
    if let Some(functions) = &results.functions {
        functions_table(&mut md, functions);
    }
    if !plots.is_empty() {
        md.push_str("## Plots\n\n");
        for (title, path) in plots {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let _ = writeln!(md, "![{title}]({name})\n");
        }
    }
    md
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
];

/// One line of a chart.
struct Series {
    /// Legend text.
    name: String,
    /// (x, y) points in x order.
    points: Vec<(f64, f64)>,
    /// Line colour.
    color: RGBColor,
    /// Floors are dashed, so each pairs visibly with its measured line.
    dashed: bool,
}

fn series(name: String, points: Vec<(f64, f64)>, color: RGBColor, dashed: bool) -> Series {
    Series {
        name,
        points,
        color,
        dashed,
    }
}

/// A log-log chart of named series.
fn log_log_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<(), BoxError> {
    let points = series.iter().flat_map(|s| s.points.iter());
    let (mut x_min, mut x_max, mut y_min, mut y_max) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points {
        x_min = x_min.min(x);
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    if x_min > x_max {
        return Err(format!("nothing to plot in {}", path.display()).into());
    }
    let root = BitMapBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(
            (x_min * 0.8..x_max * 1.25).log_scale(),
            (y_min.max(1e-6) * 0.5..y_max * 2.0).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_labels(6)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .label_style(("sans-serif", 14))
        .draw()?;
    for Series {
        name,
        points: pts,
        color,
        dashed,
    } in series
    {
        let style = color.stroke_width(2);
        if *dashed {
            chart
                .draw_series(DashedLineSeries::new(pts.iter().copied(), 8, 5, style))?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(0, 0), (7, 0)], style)
                        + PathElement::new(vec![(13, 0), (20, 0)], style)
                });
        } else {
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), style))?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    root.present()?;
    Ok(())
}

fn plot_list_latency(lists: &[ListReport], path: &Path) -> Result<(), BoxError> {
    let mut lines = Vec::new();
    for (i, list) in lists.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let store = list
            .rows
            .iter()
            .map(|r| (r.n as f64, r.store.p50_ms))
            .collect();
        let floor = list
            .rows
            .iter()
            .map(|r| (r.n as f64, r.floor.p50_ms))
            .collect();
        lines.push(series(
            format!("{} store", list.backend),
            store,
            color,
            false,
        ));
        lines.push(series(
            format!("{} floor", list.backend),
            floor,
            color,
            true,
        ));
    }
    log_log_chart(
        path,
        "Room walk, p50",
        "N live connections",
        "ms per walk",
        &lines,
    )
}

fn plot_list_cost(lists: &[ListReport], path: &Path) -> Result<(), BoxError> {
    let mut lines = Vec::new();
    for (i, list) in lists.iter().enumerate() {
        let Some(price) = &list.price else { continue };
        let pts: Vec<(f64, f64)> = list
            .rows
            .iter()
            .filter_map(|r| r.cost_per_million.map(|c| (r.n as f64, c)))
            .collect();
        if !pts.is_empty() {
            let label = format!("{} ({})", list.backend, price.currency);
            lines.push(series(label, pts, PALETTE[i % PALETTE.len()], false));
        }
    }
    log_log_chart(
        path,
        "Cost of one million broadcasts at list request prices",
        "N live connections",
        "cost per 1M broadcasts",
        &lines,
    )
}

fn plot_fanout(fanout: &FanoutReport, path: &Path) -> Result<(), BoxError> {
    let pick = |f: fn(&crate::fanout::FanoutRow) -> f64| -> Vec<(f64, f64)> {
        fanout
            .rows
            .iter()
            .map(|r| (r.clients as f64, f(r)))
            .collect()
    };
    let lines = vec![
        series(
            "gateway p50".into(),
            pick(|r| r.gateway.latency.p50_ms),
            PALETTE[0],
            false,
        ),
        series(
            "gateway p99".into(),
            pick(|r| r.gateway.latency.p99_ms),
            PALETTE[1],
            false,
        ),
        series(
            "floor p50".into(),
            pick(|r| r.floor.latency.p50_ms),
            PALETTE[0],
            true,
        ),
        series(
            "floor p99".into(),
            pick(|r| r.floor.latency.p99_ms),
            PALETTE[1],
            true,
        ),
    ];
    log_log_chart(
        path,
        "Broadcast: send to last receive",
        "clients in the room",
        "ms",
        &lines,
    )
}

/// Where and how a fan-out run was made: its machine, date, commit and command.
fn provenance(fanout: &FanoutReport) -> String {
    format!(
        "Machine: {}; run {} at commit `{}`.  \nCommand: `{}`\n",
        fanout.machine.describe(),
        fanout.machine.date,
        fanout.machine.commit,
        fanout.command
    )
}

/// What one hostile client of each kind pins on a node with the default limits.
fn hostile_table(md: &mut String, hostile: &HostileReport) {
    let _ = writeln!(
        md,
        "## What one hostile client can pin\n\n\
         A fresh node per kind (the chat in process, the binary's default limits: 128 KiB \
         messages, 20 frames a second, a queue of 256 frames or 1 MiB, 10 s write and request-head \
         deadlines), N clients of the kind at once; KiB per client = (the node's peak RSS − \
         its RSS before they came) / N. The peak includes everything the node did for them \
         (handshakes, the chat's work, the store).\n\n\
         Machine: {}; run {} at commit `{}`.  \nCommand: `{}`\n",
        hostile.machine.describe(),
        hostile.machine.date,
        hostile.machine.commit,
        hostile.command
    );
    md.push_str(
        "| kind | what it does | clients | RSS before KiB | peak KiB | KiB per client |\n\
         |---|---|---:|---:|---:|---:|\n",
    );
    for row in &hostile.rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {:.1} |",
            row.kind, row.does, row.clients, row.before_kib, row.peak_kib, row.kib_per_client
        );
    }
    md.push('\n');
}

/// The hammer's runs, a row per store.
fn hammer_table(md: &mut String, hammers: &[HammerReport]) {
    md.push_str(
        "## The hammer: does the store ever stop answering?\n\n\
         `bench hammer` replays the workload that hung sled 0.34 in `bench list` \
         (spacejam/sled#1412): rounds that open the store in a fresh namespace, fill a room \
         of 10,000, 30,000 or 100,000 members from 64 tasks while 64 more register and \
         remove members of another room, list the room whole and drop the namespace (sled: \
         its trees; SQLite: its table). A call unanswered after the deadline is a *hang*: \
         its stuck calls are written down and the round gets a grace time: calls that \
         answer in it made a stall (*answered after*), calls that do not a hang for good \
         (*unanswered*: the instance is abandoned, an embedded store gets fresh files), and \
         the run goes on, up to `--max-hangs` of those.\n\n\
         | store | s | calls | errors | hangs · unanswered | slowest answered call ms | rounds | stuck calls at each hang | machine, date, commit | command |\n\
         |---|---:|---:|---:|---:|---:|---:|---|---|---|\n",
    );
    for hammer in hammers {
        // The first few stalls, and how many more (a table cell, not the whole log).
        let mut stuck: Vec<String> = hammer
            .stalls
            .iter()
            .take(3)
            .map(|stall| {
                let ops: Vec<String> = stall
                    .stuck
                    .iter()
                    .map(|(op, ms)| format!("{op} {ms} ms"))
                    .collect();
                let answered = stall.answered_after_ms.map_or_else(
                    || "never answered".to_owned(),
                    |ms| format!("answered after {ms} ms"),
                );
                format!("at {:.0} s: {} ({answered})", stall.at_secs, ops.join(", "))
            })
            .collect();
        if hammer.stalls.len() > 3 {
            let slowest = hammer
                .stalls
                .iter()
                .filter_map(|stall| stall.answered_after_ms)
                .max()
                .unwrap_or(0);
            let never = hammer
                .stalls
                .iter()
                .filter(|s| s.answered_after_ms.is_none())
                .count();
            stuck.push(format!(
                "{} more ({never} never answered; the slowest answered after {slowest} ms)",
                hammer.stalls.len() - 3
            ));
        }
        let _ = writeln!(
            md,
            "| {} | {:.0} | {} | {} | {} · {} | {:.1} | {} | {} | {}, {}, `{}` | `{}` |",
            hammer.store,
            hammer.secs,
            hammer.calls,
            hammer.errors,
            hammer.hangs,
            hammer.unanswered,
            hammer.max_call_ms,
            hammer.rounds,
            if stuck.is_empty() {
                "–".to_owned()
            } else {
                stuck.join("; ")
            },
            hammer.machine.describe(),
            hammer.machine.date,
            hammer.machine.commit,
            hammer.command
        );
    }
    md.push('\n');
}

/// A node's memory under long churn, a table per backend.
fn churn_tables(md: &mut String, churns: &[ChurnReport]) {
    md.push_str(
        "## A node under connect/disconnect churn\n\n\
         Clients join a random one of 20 rooms, stay up to 0.8 s, sometimes send a line, \
         leave with a close frame or by dropping the socket, pause up to 1.5 s and come \
         back, for a long run after a warm-up round at the same load; the node (chat \
         functions in process) runs in its own process and is sampled as it goes. Growth \
         per 1,000 connections is RSS change / connections made, over each half of the \
         run: a plateau reads near 0 in the second half, a leak reads the same in both.\n\n",
    );
    for churn in churns {
        let _ = writeln!(
            md,
            "### {}, {}\n\nMachine: {}; run {} at commit `{}`.  \nCommand: `{}`\n",
            churn.backend,
            churn.allocator,
            churn.machine.describe(),
            churn.machine.date,
            churn.machine.commit,
            churn.command
        );
        let first = churn.samples.first();
        let during = churn.samples.iter().rev().nth(1).or(first);
        let last = churn.samples.last();
        let peak = churn.samples.iter().map(|s| s.rss_kib).max().unwrap_or(0);
        let kib = |s: Option<&crate::churn::Sample>| {
            s.map_or("–".to_owned(), |s| s.rss_kib.to_string())
        };
        let tasks = |s: Option<&crate::churn::Sample>| {
            s.map_or("–".to_owned(), |s| format!("{}", s.tasks))
        };
        md.push_str(
            "| clients | warm-up conns | conns | s | RSS KiB start · end of churn · after · peak | growth KiB/1k conns 1st · 2nd half | tasks start · after |\n\
             |---:|---:|---:|---:|---:|---:|---:|\n",
        );
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.0} | {} · {} · {} · {} | {:.1} · {:.1} | {} · {} |\n",
            churn.clients,
            churn.warmup_connections,
            churn.connections,
            churn.secs,
            kib(first),
            kib(during),
            kib(last),
            peak,
            churn.growth_first_half,
            churn.growth_second_half,
            tasks(first),
            tasks(last)
        );
    }
}

/// A churned room's walk before and after one sweep, a table per backend.
fn sweep_tables(md: &mut String, sweeps: &[SweepReport]) {
    md.push_str(
        "## A churned room before and after one sweep\n\n\
         The room of the listing benchmark (N live, N/2 expired among them, N live in another \
         room): walks before one `sweep`, the sweep, walks after it. Until a sweep deletes \
         them, expired records are read (and, on object stores, listed and billed) by every \
         broadcast; correctness never depends on the sweep, cost does.\n\n",
    );
    for sweep in sweeps {
        let _ = writeln!(
            md,
            "### {}\n\nMachine: {}; run {} at commit `{}`.  \nCommand: `{}`\n",
            sweep.backend,
            sweep.machine.describe(),
            sweep.machine.date,
            sweep.machine.commit,
            sweep.command
        );
        md.push_str(
            "| N | expired | walk p50 ms before · after | requests/walk before · after | cost / 1M broadcasts before · after | sweep ms | sweep requests | deleted |\n\
             |---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        let currency = sweep.price.as_ref().map_or("", |p| p.currency.as_str());
        for row in &sweep.rows {
            let pair = |a: Option<String>, b: Option<String>| match (a, b) {
                (Some(a), Some(b)) => format!("{a} · {b}"),
                _ => "–".to_owned(),
            };
            let requests = pair(
                row.before.requests.map(|r| r.to_string()),
                row.after.requests.map(|r| r.to_string()),
            );
            let cost = pair(
                row.before
                    .cost_per_million
                    .map(|c| format!("{c:.2} {currency}")),
                row.after
                    .cost_per_million
                    .map(|c| format!("{c:.2} {currency}")),
            );
            let _ = writeln!(
                md,
                "| {} | {} | {} · {} | {} | {} | {:.1} | {} | {} |",
                row.n,
                row.expired,
                ms(row.before.time.p50_ms),
                ms(row.after.time.p50_ms),
                requests,
                cost,
                row.sweep.ms,
                row.sweep.requests.map_or("–".to_owned(), |r| r.to_string()),
                row.sweep.deleted
            );
        }
        md.push('\n');
    }
}

/// The fan-out beside serverless-offline, one row per size and target.
fn peer_table(md: &mut String, peer: &PeerReport) {
    let versions = &peer.versions;
    let _ = writeln!(
        md,
        "## Beside a peer: serverless-offline\n\n\
         The fan-out above (same clients, one room, one sender) on three targets: the chat \
         linked into the node (`gateway-chat`); a Node.js chat handler written as AWS's \
         samples write one (connections kept in the module, each line posted to every other \
         connection with the AWS SDK v3's `PostToConnection`) run as an HTTP function of \
         the node (`gateway-http`, pushing back through the node's push API); and the same \
         handler under serverless-offline, the most used local emulator of AWS WebSocket \
         APIs, in its fastest mode (`--useInProcess`: the handler in the emulator's \
         process). CPU µs/delivery = the server processes' user + system CPU over the \
         burst ÷ deliveries (the Node runner's included for `gateway-http`); ratio = \
         CPU per delivery ÷ the peer's at the same size. RSS = the server processes with \
         every client connected. Goal: the chat ≥ 50× cheaper per delivery than the peer.\n\n\
         Node {}, serverless {}, serverless-offline {}, @aws-sdk/client-apigatewaymanagementapi \
         {}. Machine: {}; run {} at commit `{}`.  \nCommand: `{}`\n\n\
         | clients | target | CPU µs/delivery | ratio to peer | × cheaper | deliveries/s | p50 ms | p99 ms | RSS MiB |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|---:|",
        versions.node,
        versions.serverless.as_deref().unwrap_or("–"),
        versions.serverless_offline.as_deref().unwrap_or("–"),
        versions.aws_sdk.as_deref().unwrap_or("–"),
        peer.machine.describe(),
        peer.machine.date,
        peer.machine.commit,
        peer.command
    );
    for row in &peer.rows {
        let (ratio, cheaper) = match row.ratio_to_peer {
            Some(ratio) if ratio < 0.1 => (format!("{ratio:.4}×"), format!("{:.0}×", 1.0 / ratio)),
            Some(ratio) => (format!("{ratio:.2}×"), format!("{:.1}×", 1.0 / ratio)),
            None => ("–".to_owned(), "–".to_owned()),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} | {} | {} | {:.0} | {:.2} | {:.2} | {:.1} |",
            row.clients,
            row.target,
            row.cpu_us_per_delivery,
            ratio,
            cheaper,
            row.deliveries_per_sec,
            row.p50_ms,
            row.p99_ms,
            row.rss_mib,
        );
    }
    md.push('\n');
}

/// One `PostToConnection` through the push API beside the bare handler, per credential.
fn push_table(md: &mut String, push: &PushReport) {
    let _ = writeln!(
        md,
        "## The push API: one PostToConnection beside a bare handler\n\n\
         Keep-alive callers ({} in flight) post a {}-byte frame to {} WebSocket clients of \
         one node, round robin: through the node's push API as a user runs it (metrics \
         on; no credential, a bearer token, or SigV4 signed by AWS's Rust SDK), and the \
         same calls to the *floor*, a bare hyper handler in the same process that parses \
         the same request and hands the frame to the same hub (no routing, no credential \
         check, no request metrics: only the hub's own delivery counters, which both \
         sides pay). The two sides alternate, {} rounds of {} pushes each; a round \
         ends when every push was answered and delivered. CPU µs/push = the node \
         process's user + system CPU over the rounds ÷ pushes, the WebSocket writes \
         included. Goals: ≤ 1.3× the floor with no credential, ≤ 2× with SigV4.\n\n\
         Machine: {}; run {} at commit `{}`.  \nCommand: `{}`\n\n\
         | credential | caller | CPU µs/push gateway · floor | CPU ratio | pushes/s gateway · floor | per call p50 ms gateway · floor | p99 ms gateway · floor |\n\
         |---|---|---:|---:|---:|---:|---:|",
        push.concurrency,
        push.frame_bytes,
        push.recipients,
        push.rounds,
        push.pushes_per_round,
        push.machine.describe(),
        push.machine.date,
        push.machine.commit,
        push.command
    );
    for row in &push.rows {
        let (g, f) = (&row.gateway, &row.floor);
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} · {:.1} | **{}** | {:.0} · {:.0} | {:.2} · {:.2} | {:.2} · {:.2} |",
            row.auth,
            row.client,
            g.cpu_us_per_push,
            f.cpu_us_per_push,
            row.cpu_ratio_to_floor
                .map_or_else(|| "–".to_owned(), |ratio| format!("{ratio:.2}×")),
            g.pushes_per_sec,
            f.pushes_per_sec,
            g.per_call.p50_ms,
            f.per_call.p50_ms,
            g.per_call.p99_ms,
            f.per_call.p99_ms,
        );
    }
    md.push('\n');
}

/// A function call on each path, and a cold start.
fn functions_table(md: &mut String, functions: &FunctionsReport) {
    let _ = writeln!(
        md,
        "## Function calls: the Runtime-API path beside the HTTP path\n\n\
         The same Python handler (it returns `{{\"statusCode\": 200}}` at once), called one \
         at a time through the node's invoke layer (the AWS dialect's event and answer): run \
         by the node itself under AWS's `awslambdaric` (the Lambda Runtime API, one \
         instance kept warm), and as an HTTP function behind a keep-alive Python runner. \
         A cold start is the first call on a fresh host: the process, the runtime client's \
         and the handler's imports, then the call.\n\n\
         Machine: {}; run {} at commit `{}`.  \nCommand: `{}`\n\n\
         | path | handler run by | per call p50 µs | p95 µs | p99 µs | calls | cold start p50 ms | p99 ms |\n\
         |---|---|---:|---:|---:|---:|---:|---:|",
        functions.machine.describe(),
        functions.machine.date,
        functions.machine.commit,
        functions.command
    );
    for row in &functions.rows {
        let cold = |pick: fn(&crate::stats::Summary) -> f64| {
            row.cold_start
                .as_ref()
                .map_or_else(|| "–".to_owned(), |s| format!("{:.0}", pick(s)))
        };
        let _ = writeln!(
            md,
            "| {} | {} | {:.0} | {:.0} | {:.0} | {} | {} | {} |",
            row.path,
            row.client,
            row.per_invocation.p50_ms * 1000.0,
            row.per_invocation.p95_ms * 1000.0,
            row.per_invocation.p99_ms * 1000.0,
            row.per_invocation.samples,
            cold(|s| s.p50_ms),
            cold(|s| s.p99_ms),
        );
    }
    md.push('\n');
}

/// One fan-out run as a table.
fn fanout_table(md: &mut String, fanout: &FanoutReport) {
    md.push_str(
        "| clients | gateway p50 ms | gateway p99 ms | floor p50 ms | floor p99 ms | p50 ratio | p99 ratio | deliveries/s gateway · floor · tuned · raw | deliveries ratio | CPU µs/delivery gateway · floor · tuned · raw | CPU ratio to raw | line bytes gateway · raw | RSS/conn KiB gateway · floor · tuned | gateway RSS/conn KiB after idle | join s gateway · floor · tuned |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let or_dash = |value: Option<f64>, digits: usize| {
        value.map_or_else(|| "–".to_owned(), |v| format!("{v:.digits$}"))
    };
    for row in &fanout.rows {
        let tuned = row.tuned_floor.as_ref();
        let raw = row.floor_raw.as_ref();
        let cpu = |side: Option<&Side>| or_dash(side.and_then(|s| s.cpu_us_per_delivery), 2);
        let line = |side: Option<&Side>| {
            side.and_then(|s| s.line_bytes)
                .map_or_else(|| "–".to_owned(), |bytes| bytes.to_string())
        };
        let cpu_ratio = row
            .gateway
            .cpu_us_per_delivery
            .zip(raw.and_then(|r| r.cpu_us_per_delivery))
            .map(|(gateway, raw)| gateway / raw.max(1e-6));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.0} · {:.0} · {} · {} | {:.2} | {} · {} · {} · {} | {} | {} · {} | {:.1} · {:.1} · {} | {} | {:.2} · {:.2} · {} |",
            row.clients,
            ms(row.gateway.latency.p50_ms),
            ms(row.gateway.latency.p99_ms),
            ms(row.floor.latency.p50_ms),
            ms(row.floor.latency.p99_ms),
            row.gateway.latency.p50_ms / row.floor.latency.p50_ms.max(1e-6),
            row.gateway.latency.p99_ms / row.floor.latency.p99_ms.max(1e-6),
            row.gateway.deliveries_per_sec,
            row.floor.deliveries_per_sec,
            or_dash(tuned.map(|t| t.deliveries_per_sec), 0),
            or_dash(raw.map(|r| r.deliveries_per_sec), 0),
            row.gateway.deliveries_per_sec / row.floor.deliveries_per_sec.max(1e-6),
            cpu(Some(&row.gateway)),
            cpu(Some(&row.floor)),
            cpu(tuned),
            cpu(raw),
            or_dash(cpu_ratio, 2),
            line(Some(&row.gateway)),
            line(raw),
            row.gateway.rss_per_connection_kib,
            row.floor.rss_per_connection_kib,
            or_dash(tuned.map(|t| t.rss_per_connection_kib), 1),
            match row.gateway.rss_settled_per_connection_kib {
                Some(kib) => format!("{kib:.1} ({} s)", row.gateway.settle_secs),
                None => "–".to_owned(),
            },
            row.gateway.join_secs,
            row.floor.join_secs,
            or_dash(tuned.map(|t| t.join_secs), 2),
        );
    }
}
