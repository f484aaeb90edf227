//! Everything pgfleet prints goes through here: reports on stdout (a table or JSON), messages
//! on stderr. Libraries and command logic return values; this module renders them.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use crate::cli::ReportFormat;
use comfy_table::presets::{NOTHING, UTF8_FULL_CONDENSED};
use comfy_table::{ContentArrangement, Table};
use serde::Serialize;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

/// A report that can be shown as a table or serialised as JSON.
pub trait Report: Serialize {
    fn table(&self) -> String;
}

pub fn print_report(report: &impl Report, format: ReportFormat) {
    match format {
        // Plain columns leave the last one padded: no line ends in spaces.
        ReportFormat::Table => stdout(&format!("{}\n", trim_line_ends(&report.table()))),
        ReportFormat::Json => stdout(&format!("{}\n", json(report))),
    }
}

/// A report of a command whose table form has always been progress lines on stderr (`dev down`,
/// `dev reset`, `dev seed`, `migrate baseline`): the same lines stay notes there, so stdout
/// remains empty for scripts; `--format json` writes the report on stdout as every other.
pub fn print_outcome(report: &impl Report, format: ReportFormat) {
    match format {
        ReportFormat::Table => {
            for line in report.table().lines() {
                note(line);
            }
        }
        ReportFormat::Json => stdout(&format!("{}\n", json(report))),
    }
}

pub fn json(value: &impl Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// Plain text on stdout (exports, whose format is their own).
pub fn print_text(text: &str) {
    stdout(text);
}

/// Writes to stdout. A reader that went away (`pgfleet … | head`) is not an error: the rest
/// is dropped and the command ends with its own exit code (print! would panic, and exiting
/// 0 here would hide a failed run). Another write error (a full disk) is reported.
fn stdout(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            error(&format!("cannot write to stdout: {e}"));
        }
        _ => {}
    }
}

/// Set by `--log-format json`: stderr is then JSON lines only, for a log collector, so notes
/// and errors are written as log events (target `pgfleet::output`, always enabled).
static JSON_LOGS: AtomicBool = AtomicBool::new(false);

pub fn json_logs() {
    JSON_LOGS.store(true, Ordering::Relaxed);
}

/// A line for the user on stderr: progress, confirmations, hints.
pub fn note(text: &str) {
    if JSON_LOGS.load(Ordering::Relaxed) {
        tracing::info!("{text}");
    } else {
        eprintln!("{text}");
    }
}

/// A question on stderr, without a newline.
pub fn prompt(text: &str) {
    use std::io::Write as _;
    eprint!("{text}");
    let _ = std::io::stderr().flush();
}

pub fn error(text: &str) {
    if JSON_LOGS.load(Ordering::Relaxed) {
        tracing::error!("{text}");
    } else {
        eprintln!("error: {text}");
    }
}

/// A size as people read it, as serve's page shows it: `512 B`, `1.5 kB`, `20.3 MB`.
pub fn human_bytes(bytes: u64) -> String {
    pgfleet_serve::page::bytes(i64::try_from(bytes).unwrap_or(i64::MAX))
}

/// An age in its largest whole unit: `42s`, `5m`, `3h`, `2d`.
pub fn human_age(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn trim_line_ends(text: &str) -> String {
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `stream` may get ANSI colour: a terminal, and `NO_COLOR` unset or empty
/// (no-color.org). Files, pipes and CI logs get none.
pub fn colour(stream: &impl IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A table in the house style. On a terminal: headers, condensed borders, wrapping to its
/// width. Elsewhere (a pipe, a file, a CI log): plain columns three spaces apart, as kubectl
/// and cargo print them, so `grep`, `awk` and `cut` read them and no box character lands in
/// a log.
pub fn table(headers: &[&str]) -> Table {
    let mut table = Table::new();
    let terminal = std::io::stdout().is_terminal();
    table
        .load_preset(if terminal {
            UTF8_FULL_CONDENSED
        } else {
            NOTHING
        })
        .set_content_arrangement(if terminal {
            ContentArrangement::Dynamic
        } else {
            ContentArrangement::Disabled
        })
        .set_header(headers.to_vec());
    if !terminal {
        for column in table.column_iter_mut() {
            column.set_padding((0, 3));
        }
    }
    table
}

/// A manifest problem shown as a snippet of the file, with miette.
pub fn manifest_problems(error: &pgfleet_core::ManifestError) {
    use miette::{
        GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource,
    };
    let pgfleet_core::ManifestError::Invalid {
        path,
        text,
        problems,
    } = error
    else {
        self::error(&error.to_string());
        return;
    };
    let theme = if colour(&std::io::stderr()) {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme);
    for problem in problems {
        // The plain `file:line:column: message` line comes first: editors and CI logs link it.
        let at = problem
            .span
            .as_ref()
            .map(|s| pgfleet_core::manifest::line_column(text, s.start));
        match at {
            Some(at) => self::error(&format!(
                "{}:{}:{}: {}",
                path.display(),
                at.line,
                at.column,
                problem.message
            )),
            None => self::error(&format!("{}: {}", path.display(), problem.message)),
        }
        // The message is on the line above: the snippet only shows where (its header, empty
        // here, is dropped below), so each problem is said once.
        let mut diagnostic = MietteDiagnostic::new("");
        if let Some(help) = &problem.help {
            diagnostic = diagnostic.with_help(help.clone());
        }
        if let Some(span) = &problem.span {
            diagnostic = diagnostic.with_label(LabeledSpan::at(span.clone(), "here"));
        }
        let report = miette::Report::new(diagnostic)
            .with_source_code(NamedSource::new(path.display().to_string(), text.clone()));
        let mut rendered = String::new();
        // JSON logs carry the `file:line:column: message` events above, not the snippet.
        if !JSON_LOGS.load(Ordering::Relaxed)
            && handler
                .render_report(&mut rendered, report.as_ref())
                .is_ok()
        {
            let snippet: Vec<&str> = rendered
                .lines()
                .skip_while(|line| line.trim() == "×" || line.trim().is_empty())
                .collect();
            eprintln!("{}\n", snippet.join("\n"));
        }
    }
}
