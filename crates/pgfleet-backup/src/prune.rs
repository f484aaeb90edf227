//! `backup prune`'s plan: which backups the retention policy keeps, and why. Per service, as
//! restic's and borg's `forget` do: a backup is kept when any rule keeps it (`keep_last`, then
//! the newest of each of the last N days, ISO weeks and months that have one, all in UTC), and
//! two guards the policy cannot override: the newest complete backup of a service and its
//! newest verified one are never deleted. A backup holding several services (a full one) is
//! deleted only when every one of its parts may go.
//!
//! A pure function over catalog entries, so the plan can be shown before anything is deleted
//! and tested on any calendar.

use crate::{Catalog, PartStatus};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use pgfleet_core::manifest::Retention;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// One service's part of one backup, as prune sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneEntry {
    pub id: String,
    pub service: String,
    pub taken_at: Timestamp,
    /// The part's dump finished (`PartStatus::Complete`).
    pub complete: bool,
    /// A verification of the part succeeded.
    pub verified: bool,
}

/// Why a backup is kept (for one of its services).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "rule", content = "period", rename_all = "snake_case")]
pub enum KeepReason {
    /// One of the newest `keep_last` complete backups.
    Last,
    /// The newest of its UTC day (`2024-01-15`).
    Daily(String),
    /// The newest of its ISO week (`2024-W03`).
    Weekly(String),
    /// The newest of its UTC month (`2024-01`).
    Monthly(String),
    /// The service's newest complete backup: never deleted.
    NewestComplete,
    /// The service's newest verified backup: never deleted.
    NewestVerified,
    /// No rule is configured, so nothing is deleted.
    NoPolicy,
}

impl fmt::Display for KeepReason {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            KeepReason::Last => f.write_str("last"),
            KeepReason::Daily(day) => write!(f, "daily {day}"),
            KeepReason::Weekly(week) => write!(f, "weekly {week}"),
            KeepReason::Monthly(month) => write!(f, "monthly {month}"),
            KeepReason::NewestComplete => f.write_str("newest complete"),
            KeepReason::NewestVerified => f.write_str("newest verified"),
            KeepReason::NoPolicy => f.write_str("no retention policy"),
        }
    }
}

/// What prune does with one backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PruneDecision {
    pub id: String,
    pub taken_at: Timestamp,
    /// The services the backup holds.
    pub services: Vec<String>,
    /// Empty when the backup is deleted.
    pub kept_for: Vec<KeptFor>,
}

/// One reason a backup stays: a rule of one of its services.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct KeptFor {
    pub service: String,
    #[serde(flatten)]
    pub reason: KeepReason,
}

impl PruneDecision {
    pub fn keep(&self) -> bool {
        !self.kept_for.is_empty()
    }
}

/// Every backup, newest first, each kept (with reasons) or deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrunePlan {
    pub decisions: Vec<PruneDecision>,
}

impl PrunePlan {
    pub fn deleted(&self) -> impl Iterator<Item = &PruneDecision> {
        self.decisions.iter().filter(|d| !d.keep())
    }

    pub fn kept(&self) -> impl Iterator<Item = &PruneDecision> {
        self.decisions.iter().filter(|d| d.keep())
    }
}

/// The entries of published backups: one per service part, verified when its newest
/// verification succeeded.
pub fn entries(catalogs: &[Catalog]) -> Vec<PruneEntry> {
    catalogs
        .iter()
        .flat_map(|catalog| {
            let taken_at = crate::status::taken_at(catalog);
            catalog.services.iter().map(move |part| PruneEntry {
                id: catalog.id.clone(),
                service: part.service.clone(),
                taken_at,
                complete: part.status == PartStatus::Complete,
                verified: part.status == PartStatus::Complete
                    && catalog
                        .last_verification(&part.service)
                        .is_some_and(|v| v.ok),
            })
        })
        .collect()
}

/// How old an interrupted upload must be before prune removes it: younger, it may be a
/// `backup create` still uploading.
pub const INCOMPLETE_GRACE: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

/// The interrupted uploads (`Store::incomplete`) old enough to remove, by the time in their id.
pub fn stale_incomplete(ids: &[String], now: Timestamp) -> Vec<String> {
    ids.iter()
        .filter(|id| {
            crate::BackupId::parse(id)
                .is_ok_and(|id| now.duration_since(id.taken_at) >= INCOMPLETE_GRACE)
        })
        .cloned()
        .collect()
}

/// Whether `retention` has any rule at all (without one, prune keeps everything).
pub fn has_policy(retention: &Retention) -> bool {
    [
        retention.keep_last,
        retention.keep_daily,
        retention.keep_weekly,
        retention.keep_monthly,
    ]
    .iter()
    .any(Option::is_some)
}

/// The plan for `entries` under `retention`.
pub fn plan(entries: &[PruneEntry], retention: &Retention) -> PrunePlan {
    let policy = has_policy(retention);
    // id → the (service, reason) pairs that keep it.
    let mut by_service: BTreeMap<&str, Vec<&PruneEntry>> = BTreeMap::new();
    for entry in entries {
        by_service.entry(&entry.service).or_default().push(entry);
    }
    let mut reasons: BTreeMap<String, BTreeSet<KeptFor>> = BTreeMap::new();
    for (service, mut parts) in by_service {
        // Newest first; ties by id so the plan does not depend on the input's order.
        parts.sort_by(|a, b| b.taken_at.cmp(&a.taken_at).then_with(|| b.id.cmp(&a.id)));
        let mut keep = |id: &str, reason: KeepReason| {
            reasons.entry(id.to_owned()).or_default().insert(KeptFor {
                service: service.to_owned(),
                reason,
            });
        };
        if !policy {
            for part in &parts {
                keep(&part.id, KeepReason::NoPolicy);
            }
            continue;
        }
        let complete: Vec<&PruneEntry> = parts.iter().copied().filter(|p| p.complete).collect();
        if let Some(newest) = complete.first() {
            keep(&newest.id, KeepReason::NewestComplete);
        }
        if let Some(verified) = complete.iter().find(|p| p.verified) {
            keep(&verified.id, KeepReason::NewestVerified);
        }
        if let Some(n) = retention.keep_last {
            for part in complete.iter().take(n as usize) {
                keep(&part.id, KeepReason::Last);
            }
        }
        let rules: [PeriodRule; 3] = [
            (retention.keep_daily, day_of, KeepReason::Daily),
            (retention.keep_weekly, week_of, KeepReason::Weekly),
            (retention.keep_monthly, month_of, KeepReason::Monthly),
        ];
        for (count, period_of, reason) in rules {
            let Some(count) = count else { continue };
            let mut periods = 0;
            let mut last_period: Option<String> = None;
            for part in &complete {
                let period = period_of(utc_date(part.taken_at));
                if last_period.as_deref() == Some(period.as_str()) {
                    continue;
                }
                if periods == count {
                    break;
                }
                periods += 1;
                last_period = Some(period.clone());
                keep(&part.id, reason(period));
            }
        }
    }
    let mut backups: BTreeMap<&str, (Timestamp, BTreeSet<&str>)> = BTreeMap::new();
    for entry in entries {
        let slot = backups
            .entry(&entry.id)
            .or_insert((entry.taken_at, BTreeSet::new()));
        slot.1.insert(&entry.service);
    }
    let mut decisions: Vec<PruneDecision> = backups
        .into_iter()
        .map(|(id, (taken_at, services))| PruneDecision {
            id: id.to_owned(),
            taken_at,
            services: services.into_iter().map(str::to_owned).collect(),
            kept_for: reasons
                .get(id)
                .map(|set| set.iter().cloned().collect())
                .unwrap_or_default(),
        })
        .collect();
    decisions.sort_by(|a, b| b.taken_at.cmp(&a.taken_at).then_with(|| b.id.cmp(&a.id)));
    PrunePlan { decisions }
}

/// A calendar rule: its count, the period of a date, and the reason it keeps by.
type PeriodRule = (Option<u32>, fn(Date) -> String, fn(String) -> KeepReason);

fn utc_date(at: Timestamp) -> Date {
    at.to_zoned(TimeZone::UTC).date()
}

fn day_of(date: Date) -> String {
    date.strftime("%Y-%m-%d").to_string()
}

fn week_of(date: Date) -> String {
    let week = date.iso_week_date();
    format!("{:04}-W{:02}", week.year(), week.week())
}

fn month_of(date: Date) -> String {
    date.strftime("%Y-%m").to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use jiff::{SignedDuration, ToSpan};

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn id_at(name: &str, taken_at: Timestamp) -> String {
        crate::BackupId::new(name, taken_at).to_string()
    }

    /// One backup of `service` every 6 hours for `days` days from 2024-01-01T00:00Z, the
    /// newest at 2025-02-03T18:00Z for 400 days.
    fn every_six_hours(service: &str, days: i64) -> Vec<PruneEntry> {
        let start = at("2024-01-01T00:00:00Z");
        (0..days * 4)
            .map(|i| {
                let taken_at = start + SignedDuration::from_hours(6 * i);
                PruneEntry {
                    id: id_at(service, taken_at),
                    service: service.to_owned(),
                    taken_at,
                    complete: true,
                    verified: false,
                }
            })
            .collect()
    }

    fn kept(service: &str, reason: KeepReason) -> KeptFor {
        KeptFor {
            service: service.to_owned(),
            reason,
        }
    }

    fn policy() -> Retention {
        Retention {
            keep_last: Some(4),
            keep_daily: Some(7),
            keep_weekly: Some(4),
            keep_monthly: Some(12),
        }
    }

    fn kept_times(plan: &PrunePlan) -> Vec<String> {
        plan.kept()
            .map(|d| {
                d.taken_at
                    .to_zoned(TimeZone::UTC)
                    .strftime("%Y-%m-%dT%H")
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn four_hundred_days_every_six_hours_keep_what_each_rule_says() {
        let entries = every_six_hours("billing", 400);
        assert_eq!(entries.len(), 1600);
        let plan = plan(&entries, &policy());
        assert_eq!(plan.decisions.len(), 1600);
        assert_eq!(
            kept_times(&plan),
            [
                // keep_last 4: the newest day's four.
                "2025-02-03T18",
                "2025-02-03T12",
                "2025-02-03T06",
                "2025-02-03T00",
                // keep_daily 7: the newest of each day (the 3rd's is above).
                "2025-02-02T18",
                "2025-02-01T18",
                "2025-01-31T18",
                "2025-01-30T18",
                "2025-01-29T18",
                "2025-01-28T18",
                // keep_weekly 4 (ISO weeks start on Monday: 2025-02-03 is one, so W06 is the
                // 3rd's, W05 ends on Sunday the 2nd): W04 and W03.
                "2025-01-26T18",
                "2025-01-19T18",
                // keep_monthly 12: February's is the 3rd's, January's the 31st's.
                "2024-12-31T18",
                "2024-11-30T18",
                "2024-10-31T18",
                "2024-09-30T18",
                "2024-08-31T18",
                "2024-07-31T18",
                "2024-06-30T18",
                "2024-05-31T18",
                "2024-04-30T18",
                "2024-03-31T18",
            ]
        );
        assert_eq!(plan.deleted().count(), 1600 - 22);
        let newest = &plan.decisions[0];
        assert_eq!(newest.id, "billing_20250203_180000");
        assert_eq!(
            newest.kept_for,
            [
                kept("billing", KeepReason::Last),
                kept("billing", KeepReason::Daily("2025-02-03".into())),
                kept("billing", KeepReason::Weekly("2025-W06".into())),
                kept("billing", KeepReason::Monthly("2025-02".into())),
                kept("billing", KeepReason::NewestComplete),
            ]
        );
        let january = plan
            .decisions
            .iter()
            .find(|d| d.id == "billing_20250131_180000")
            .unwrap();
        assert_eq!(
            january.kept_for,
            [
                kept("billing", KeepReason::Daily("2025-01-31".into())),
                kept("billing", KeepReason::Monthly("2025-01".into())),
            ]
        );
    }

    #[test]
    fn an_iso_week_spans_a_new_year() {
        // 2024-12-30 (Monday) to 2025-01-05 (Sunday) is ISO week 2025-W01.
        assert_eq!(week_of(jiff::civil::date(2024, 12, 30)), "2025-W01");
        assert_eq!(week_of(jiff::civil::date(2025, 1, 5)), "2025-W01");
        assert_eq!(week_of(jiff::civil::date(2024, 12, 29)), "2024-W52");
        let entries: Vec<PruneEntry> = [
            "2024-12-29T10:00:00Z",
            "2024-12-30T10:00:00Z",
            "2025-01-04T10:00:00Z",
        ]
        .iter()
        .map(|t| PruneEntry {
            id: id_at("billing", at(t)),
            service: "billing".into(),
            taken_at: at(t),
            complete: true,
            verified: false,
        })
        .collect();
        let retention = Retention {
            keep_weekly: Some(2),
            ..Retention::default()
        };
        let plan = plan(&entries, &retention);
        assert_eq!(
            kept_times(&plan),
            ["2025-01-04T10", "2024-12-29T10"],
            "{plan:#?}"
        );
    }

    #[test]
    fn the_only_verified_backup_is_never_deleted() {
        let mut entries = every_six_hours("billing", 60);
        let verified = entries
            .iter_mut()
            .find(|e| e.taken_at == at("2024-01-15T06:00:00Z"))
            .unwrap();
        verified.verified = true;
        let retention = Retention {
            keep_last: Some(2),
            ..Retention::default()
        };
        let plan = plan(&entries, &retention);
        let stays: Vec<(&str, &Vec<KeptFor>)> =
            plan.kept().map(|d| (d.id.as_str(), &d.kept_for)).collect();
        assert_eq!(stays.len(), 3, "{stays:#?}");
        assert_eq!(stays[2].0, "billing_20240115_060000");
        assert_eq!(stays[2].1, &[kept("billing", KeepReason::NewestVerified)]);
        // A newer verified backup takes over the guard: the older one may go.
        entries.last_mut().unwrap().verified = true;
        let again = super::plan(&entries, &retention);
        assert_eq!(again.kept().count(), 2);
        assert!(again.deleted().any(|d| d.id == "billing_20240115_060000"));
    }

    #[test]
    fn failed_parts_count_for_no_rule_and_the_newest_complete_one_stays() {
        let base = at("2024-03-01T00:00:00Z");
        let entries: Vec<PruneEntry> = (0..5)
            .map(|i| {
                let taken_at = base + (i * 24).hours();
                PruneEntry {
                    id: id_at("billing", taken_at),
                    service: "billing".into(),
                    taken_at,
                    // The two newest failed.
                    complete: i < 3,
                    verified: false,
                }
            })
            .collect();
        let retention = Retention {
            keep_last: Some(1),
            ..Retention::default()
        };
        let plan = plan(&entries, &retention);
        assert_eq!(kept_times(&plan), ["2024-03-03T00"]);
        assert_eq!(
            plan.kept().next().unwrap().kept_for,
            [
                kept("billing", KeepReason::Last),
                kept("billing", KeepReason::NewestComplete),
            ]
        );
        assert_eq!(plan.deleted().count(), 4);
    }

    #[test]
    fn a_full_backup_stays_while_one_of_its_services_keeps_it() {
        let old = at("2024-03-01T00:00:00Z");
        let new = at("2024-03-02T00:00:00Z");
        let entry = |id: &str, service: &str, taken_at, complete| PruneEntry {
            id: id.into(),
            service: service.into(),
            taken_at,
            complete,
            verified: false,
        };
        let full_old = id_at("full", old);
        let entries = vec![
            entry(&full_old, "billing", old, true),
            entry(&full_old, "users", old, true),
            entry(&id_at("billing", new), "billing", new, true),
            // users' newer dump failed: the full backup is its newest complete one.
            entry(&id_at("users", new), "users", new, false),
        ];
        let retention = Retention {
            keep_last: Some(1),
            ..Retention::default()
        };
        let plan = plan(&entries, &retention);
        let full = plan.decisions.iter().find(|d| d.id == full_old).unwrap();
        assert_eq!(full.services, ["billing", "users"]);
        assert_eq!(
            full.kept_for,
            [
                kept("users", KeepReason::Last),
                kept("users", KeepReason::NewestComplete),
            ]
        );
        assert_eq!(
            plan.deleted().map(|d| d.id.as_str()).collect::<Vec<_>>(),
            ["users_20240302_000000"]
        );
    }

    #[test]
    fn an_interrupted_upload_goes_only_once_no_run_can_still_be_writing_it() {
        let now = at("2024-03-02T12:00:00Z");
        let ids: Vec<String> = [
            "billing_20240301_115959",
            "billing_20240301_120001",
            "not-an-id",
        ]
        .map(str::to_owned)
        .to_vec();
        assert_eq!(stale_incomplete(&ids, now), ["billing_20240301_115959"]);
    }

    #[test]
    fn without_a_policy_nothing_is_deleted() {
        let entries = every_six_hours("billing", 3);
        let plan = plan(&entries, &Retention::default());
        assert!(!has_policy(&Retention::default()));
        assert_eq!(plan.deleted().count(), 0);
        assert!(
            plan.decisions
                .iter()
                .all(|d| d.kept_for == [kept("billing", KeepReason::NoPolicy)])
        );
    }
}
