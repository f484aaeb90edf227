//! Everything pgfleet prints goes through here: reports on stdout (a table or JSON), messages
//! on stderr. Libraries and command logic return values; this module renders them.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use crate::cli::ReportFormat;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;
use std::io::IsTerminal;

/// A report that can be shown as a table or serialised as JSON.
pub trait Report: Serialize {
    fn table(&self) -> String;
}

pub fn print_report(report: &impl Report, format: ReportFormat) {
    match format {
        ReportFormat::Table => println!("{}", report.table()),
        ReportFormat::Json => println!("{}", json(report)),
    }
}

pub fn json(value: &impl Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// Plain text on stdout (exports, whose format is their own).
pub fn print_text(text: &str) {
    print!("{text}");
}

/// A line for the user on stderr: progress, confirmations, hints.
pub fn note(text: &str) {
    eprintln!("{text}");
}

/// A question on stderr, without a newline.
pub fn prompt(text: &str) {
    use std::io::Write as _;
    eprint!("{text}");
    let _ = std::io::stderr().flush();
}

pub fn error(text: &str) {
    eprintln!("error: {text}");
}

/// A table in the house style: headers, condensed borders, wrapping to the terminal.
pub fn table(headers: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(if std::io::stdout().is_terminal() {
            ContentArrangement::Dynamic
        } else {
            ContentArrangement::Disabled
        })
        .set_header(headers.to_vec());
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
    let theme = if std::io::stderr().is_terminal() {
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
        let mut diagnostic = MietteDiagnostic::new(problem.message.clone());
        if let Some(help) = &problem.help {
            diagnostic = diagnostic.with_help(help.clone());
        }
        if let Some(span) = &problem.span {
            diagnostic = diagnostic.with_label(LabeledSpan::at(span.clone(), "here"));
        }
        let report = miette::Report::new(diagnostic)
            .with_source_code(NamedSource::new(path.display().to_string(), text.clone()));
        let mut rendered = String::new();
        if handler
            .render_report(&mut rendered, report.as_ref())
            .is_ok()
        {
            eprintln!("{rendered}");
        }
    }
}
