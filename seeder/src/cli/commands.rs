//! One function per database command: open, call the library, print.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use seeder::{Progress, SeedReport, SeedSummary, Stopped, Table, TenantList};

use super::args::{ResetArgs, SeedArgs};
use super::error::CliError;
use super::output::{Output, RunSummary};
use super::{Context, Outcome, listen_for_signals};

/// How long closing the pool may take. A connection whose server stopped
/// answering (`seeder::NoAnswer`) is still waiting for the answer, and
/// sqlx's `close` would wait for it without end.
const CLOSE_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

async fn close(db: sea_orm::DatabaseConnection) {
    let _ = tokio::time::timeout(CLOSE_LIMIT, db.close()).await;
}

/// `seeder [seed]`: migrate, seed, verify (or, with `--dry-run`, preview).
pub async fn seed(mut ctx: Context, args: &SeedArgs, only: &[Table]) -> anyhow::Result<Outcome> {
    if !args.dry_run {
        ctx.guard_remote(args.allow_remote)?;
    }
    listen_for_signals(&mut ctx)?;
    let output = ctx.output;
    output.human(format_args!("database: {}\n", ctx.target.display));
    let mut summary = RunSummary::new(&ctx.target.display, "seed", &ctx.tenants);
    let jobs = args.jobs.unwrap_or(1);
    let seeder = ctx
        .seeder(only)
        .migrate(!args.no_migrate)
        .jobs(usize::from(jobs));
    if args.dry_run {
        summary.dry_run = true;
        // A SQLite file that does not exist yet is read as an empty
        // in-memory database: a dry run creates nothing.
        let db = match ctx.target.connect_read_only(ctx.connect_timeout).await? {
            Some(db) => db,
            None => {
                let mut options = sea_orm::ConnectOptions::new("sqlite::memory:");
                seeder::without_pool_maintenance(&mut options);
                sea_orm::Database::connect(options).await?
            }
        };
        let preview = seeder.dry_run(&db).await;
        close(db).await;
        let preview = preview?;
        output.human("dry run: nothing is written\n");
        print_seed_report(&mut summary, &preview, output, true);
        output.json(&summary)?;
        return Ok(Outcome::Ok);
    }

    let opened = ctx
        .target
        .connect_for_jobs(ctx.connect_timeout, jobs)
        .await?;
    if let Some(note) = &opened.note {
        eprintln!("note: {note}");
    }
    let db = opened.db;
    let progress = if output == Output::Human {
        Progress::on_stderr()
    } else {
        Progress::quiet()
    };
    let report = match seeder.clone().progress(progress).run(&db).await {
        Ok(report) => report,
        // The rows stored are committed: their report is shown before the
        // error, which names what was declined.
        Err(seeder::SeedError::Declined { declined, report }) => {
            print_seed_report(&mut summary, &report, output, false);
            close(db).await;
            output.json(&summary)?;
            return Err(seeder::SeedError::Declined { declined, report }.into());
        }
        Err(e) => return Err(e.into()),
    };
    print_seed_report(&mut summary, &report, output, false);
    // A signal after the last tenant committed: everything is in, but the
    // user asked to stop, so the verification is skipped.
    let stopped = report
        .stopped
        .clone()
        .or_else(|| ctx.cancel.is_cancelled().then(Stopped::default));
    if let Some(stopped) = &stopped {
        summary.interrupted = true;
        summary.rolled_back_tenant = stopped.rolled_back.first().cloned();
        summary.rolled_back_tenants = stopped.rolled_back.clone();
        eprintln!(
            "{}",
            stop_message(stopped, &report.tenants, ctx.tenants.len())
        );
        close(db).await;
        output.json(&summary)?;
        return Ok(Outcome::Interrupted);
    }
    if report.inserted_total() == 0 && report.updated_total() == 0 {
        output.human("nothing to do: every row was already present\n");
    }
    output.human(format_args!(
        "seeded in {:.2} s ({:.0} rows/s)\n",
        summary.seconds, summary.rows_per_second
    ));
    let outcome = if args.no_verify {
        Outcome::Ok
    } else {
        let verification = seeder.verify(&db).await?;
        output.human(&verification);
        let outcome = if verification.passed() {
            Outcome::Ok
        } else {
            Outcome::InvariantsBroken
        };
        summary.verification = Some(verification);
        outcome
    };
    close(db).await;
    output.json(&summary)?;
    Ok(outcome)
}

/// The line saying how a stopped run ended: what was rolled back, what
/// was committed (either list abbreviated beyond ten tenants), and that a
/// rerun finishes. `tenants`: how many the run covered.
fn stop_message(stopped: &Stopped, committed: &[String], tenants: usize) -> String {
    let committed_part = if committed.is_empty() {
        "no tenant was committed".to_owned()
    } else {
        format!("committed before it: {}", TenantList(committed))
    };
    let rolled_back = match stopped.rolled_back.as_slice() {
        [t] => format!("tenant {t} was rolled back whole"),
        [] if committed.len() == tenants => {
            "stopped after the last tenant, before verification".to_owned()
        }
        [] => "stopped between tenants".to_owned(),
        several => format!("tenants {} were rolled back whole", TenantList(several)),
    };
    format!("interrupted: {rolled_back}; {committed_part}. Run the same command again to finish.")
}

/// The schema line, the migrations (applied, or a dry run's would-be
/// ones) and the per-table lines of a seeding report.
fn print_seed_report(summary: &mut RunSummary, report: &SeedReport, output: Output, dry_run: bool) {
    if let Some(schema) = &report.schema {
        summary.record_schema(schema, output);
        match (dry_run, schema.pending, schema.applied) {
            (true, pending, _) if pending > 0 => {
                output.human(format_args!("migrations: would apply {pending}\n"));
            }
            (false, _, applied) if applied > 0 => {
                output.human(format_args!("migrations: applied {applied}\n"));
            }
            _ => {}
        }
    }
    summary.record(report);
    output.human(SeedSummary {
        report,
        dry_run,
        full_list: Some("--json lists them all"),
    });
}

/// `seeder verify`: read-only counts, breakdown and invariants.
pub async fn verify(mut ctx: Context) -> anyhow::Result<Outcome> {
    listen_for_signals(&mut ctx)?;
    let output = ctx.output;
    output.human(format_args!("database: {}\n", ctx.target.display));
    let Some(db) = ctx
        .target
        .connect_for_verifying(ctx.connect_timeout)
        .await?
    else {
        return Err(CliError::NoSqliteFile {
            path: ctx.target.display.clone(),
        }
        .into());
    };
    let seeder = ctx.seeder(&[]);
    let checked = async {
        let schema = seeder.schema(&db).await?;
        let report = seeder.verify(&db).await?;
        Ok::<_, seeder::SeedError>((schema, report))
    }
    .await;
    close(db).await;
    let (schema, report) = checked?;
    let mut summary = RunSummary::new(&ctx.target.display, "verify", &ctx.tenants);
    summary.record_schema(&schema, output);
    output.human(&report);
    let outcome = if report.passed() {
        Outcome::Ok
    } else {
        Outcome::InvariantsBroken
    };
    summary.verification = Some(report);
    output.json(&summary)?;
    Ok(outcome)
}

/// `seeder reset`: deletes the selected dataset tenants, after saying what
/// it will delete and asking (or `--yes`).
pub async fn reset(mut ctx: Context, args: &ResetArgs) -> anyhow::Result<Outcome> {
    if !args.dry_run {
        ctx.guard_remote(args.allow_remote)?;
    }
    listen_for_signals(&mut ctx)?;
    let output = ctx.output;
    output.human(format_args!("database: {}\n", ctx.target.display));
    let Some(db) = ctx.target.connect_read_only(ctx.connect_timeout).await? else {
        output.human("nothing to reset: the SQLite file does not exist\n");
        return Ok(Outcome::Ok);
    };
    let seeder = ctx.seeder(&[]);
    let preview = seeder.reset(&db, true).await;
    close(db).await;
    let preview = preview?;
    if args.dry_run || preview.total() == 0 {
        output.human(&preview);
        if preview.total() == 0 && !args.dry_run {
            output.human("nothing to delete\n");
        }
        output.json(&preview)?;
        return Ok(Outcome::Ok);
    }
    if !args.yes {
        confirm(&preview)?;
    }
    let db = ctx.target.connect(ctx.connect_timeout).await?;
    let deleted = seeder.reset(&db, false).await;
    close(db).await;
    let deleted = deleted?;
    output.human(&deleted);
    output.json(&deleted)?;
    Ok(Outcome::Ok)
}

/// Shows what a reset deletes and asks on the terminal; refuses without
/// one (scripts pass `--yes`).
fn confirm(preview: &seeder::ResetReport) -> Result<(), CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::ResetUnconfirmed);
    }
    let mut err = std::io::stderr();
    let _ = write!(err, "{preview}delete these rows? [y/N] ");
    let _ = err.flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(CliError::ResetUnconfirmed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(range: std::ops::RangeInclusive<usize>) -> Vec<String> {
        range.map(|i| format!("tenant-{i:04}")).collect()
    }

    /// A few tenants are named, as before.
    #[test]
    fn a_stop_among_few_tenants_names_them_all() {
        let stopped = Stopped {
            rolled_back: ids(2..=2),
        };
        assert_eq!(
            stop_message(&stopped, &ids(1..=1), 3),
            "interrupted: tenant tenant-0002 was rolled back whole; committed before it: \
             tenant-0001. Run the same command again to finish."
        );
    }

    /// 1500 committed and 300 rolled back: one short line all the same.
    #[test]
    fn a_stop_among_many_tenants_abbreviates_both_lists() {
        let stopped = Stopped {
            rolled_back: ids(1501..=1800),
        };
        assert_eq!(
            stop_message(&stopped, &ids(1..=1500), 2000),
            "interrupted: tenants tenant-1501, tenant-1502, tenant-1503, tenant-1504, \
             tenant-1505, …, tenant-1799, tenant-1800 (300 tenants) were rolled back whole; \
             committed before it: tenant-0001, tenant-0002, tenant-0003, tenant-0004, \
             tenant-0005, …, tenant-1499, tenant-1500 (1500 tenants). Run the same command \
             again to finish."
        );
    }
}
