//! Cleanup that runs however a test ends: roles and users belong to the
//! whole server (not to the test's database, which `run_case` drops), so a
//! test that creates one holds a guard whose `Drop` removes it, also when
//! an assertion panics half-way.

use std::future::Future;

use sea_orm::ConnectionTrait;

use crate::TestDb;

/// Runs an async clean-up when dropped. `Drop` cannot await and may run
/// inside the test's runtime (or while it unwinds), so the clean-up runs
/// on a thread of its own with a runtime of its own, and is waited for.
pub struct Cleanup {
    what: String,
    job: Option<Box<dyn FnOnce() -> anyhow::Result<()> + Send>>,
}

impl Cleanup {
    pub fn new<F, Fut>(what: impl Into<String>, job: F) -> Cleanup
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        Cleanup {
            what: what.into(),
            job: Some(Box::new(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?
                    .block_on(job())
            })),
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Some(job) = self.job.take() else {
            return;
        };
        match std::thread::spawn(job).join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: could not clean up {}: {e:#}", self.what),
            Err(_) => eprintln!("warning: cleaning up {} panicked", self.what),
        }
    }
}

/// A PostgreSQL role created by a test (`CREATE ROLE {name} ...` is the
/// caller's), removed on drop: what it owns in the test's database goes
/// back to the test's user, what it was granted is revoked (also the
/// database-level grants), then the role is dropped from the maintenance
/// database.
pub struct PgRole {
    pub name: String,
    _cleanup: Cleanup,
}

impl PgRole {
    /// Names a role after the test's database (roles are cluster-wide, and
    /// the database name is unique) and arranges its removal. Create it
    /// after calling this, so that a failing `CREATE ROLE` is cleaned up
    /// too (`DROP ROLE IF EXISTS`).
    pub fn guard(db: &TestDb, suffix: &str) -> PgRole {
        let database = db.name();
        let name = format!("{database}_{suffix}");
        let db_url = db.url.clone();
        let admin_url = db.admin_url();
        let role = name.clone();
        let cleanup = Cleanup::new(format!("role {name}"), move || async move {
            let exists = {
                let sql = format!("SELECT COUNT(*) AS n FROM pg_roles WHERE rolname = '{role}'");
                crate::sql::number_at(&admin_url, &sql).await? == 1
            };
            if !exists {
                return Ok(());
            }
            // The test's database still exists while its case unwinds.
            if let Ok(conn) = crate::connect(&db_url).await {
                conn.execute_unprepared(&format!(
                    "REASSIGN OWNED BY {role} TO CURRENT_USER; DROP OWNED BY {role}"
                ))
                .await?;
                conn.close().await?;
            }
            let admin = crate::connect(&admin_url).await?;
            admin
                .execute_unprepared(&format!("DROP ROLE IF EXISTS {role}"))
                .await?;
            admin.close().await?;
            Ok(())
        });
        PgRole {
            name,
            _cleanup: cleanup,
        }
    }

    /// The test database's URL, connecting as this role.
    pub fn url(&self, db: &TestDb) -> String {
        db.url_as(&self.name, None)
    }
}

/// A MariaDB/MySQL user created by a test, dropped (from any host) when the
/// guard goes.
pub struct MySqlUser {
    pub name: String,
    _cleanup: Cleanup,
}

impl MySqlUser {
    /// Names a user `ota_seed_t<pid>_<prefix><n>` (unique in this process,
    /// within MySQL's 32 characters, and removed by the next test process's
    /// [`crate::sweep`] should this one die before its guard runs) and
    /// arranges its removal; create it after this.
    pub fn guard(db: &TestDb, prefix: &str) -> MySqlUser {
        static USERS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = USERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!(
            "{}{}_{prefix}{n}",
            crate::sweep::NAME_PREFIX,
            std::process::id()
        );
        let server = db.admin_url();
        let user = name.clone();
        let cleanup = Cleanup::new(format!("user {name}"), move || async move {
            let admin = crate::connect(&server).await?;
            admin
                .execute_unprepared(&format!("DROP USER IF EXISTS '{user}'@'%'"))
                .await?;
            admin.close().await?;
            Ok(())
        });
        MySqlUser {
            name,
            _cleanup: cleanup,
        }
    }

    /// The test database's URL, connecting as this user (no password).
    pub fn url(&self, db: &TestDb) -> String {
        db.url_as(&self.name, None)
    }
}
