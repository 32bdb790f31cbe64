//! What the operator reads of an existing Nextcloud it adopts, and of every space's accounts:
//! only SELECTs, as the admin (does the database exist, whose is it) or as the space's own role
//! (what its tables hold). Nothing here writes.
//!
//! Where Nextcloud keeps what is read (server, lib/private):
//! - the primary object store's storage is `object::store:amazon::<bucket>` in `oc_storages`
//!   (`Files/ObjectStore/ObjectStoreStorage.php` prefixes `object::store:` to the store's id,
//!   `Files/ObjectStore/S3ConnectionTrait.php` makes it `amazon::<bucket>`);
//! - app data lives under `appdata_<instanceid>` at the root of that storage (`Files/AppData`), a
//!   row of `oc_filecache` found through its `(storage, path_hash)` unique index;
//! - an account's last login is `login/lastLogin` in `oc_preferences` (`User/User.php`
//!   `updateLastLoginTimestamp`), indexed by `prefs_app_key_ind_fl_i (appid, configkey, ...)`;
//! - the last use of a session or app password is `oc_authtoken.last_activity`, indexed by
//!   `authtoken_last_activity_idx` (the table serverinfo counts active users from).
//! - the end of the last background run is `core/lastcron` in `oc_appconfig`
//!   (`core/Service/CronService.php`, `run`: `setValueInt('core', 'lastcron', time())`);
//! - the calendar reminders still to send are the rows of `oc_calendar_reminders`, each with its
//!   `notification_date` (apps/dav `Migration/Version1012Date20190808122342.php`); cron.php sends
//!   every row whose date has passed (`CalDAV/Reminder/Backend.php`, `getRemindersToProcess`).

use sqlx::Connection;

use super::{PgAdmin, classify};
use crate::provision::{OPERATION_BOUND, ProvisionError, System, TenantNames, bounded};

/// What an adopted database holds, read as its role.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceFacts {
    /// `core/installedat` is there: Nextcloud's install finished.
    pub installed: bool,
    /// Every primary object store the database knows (`object::store:...` ids).
    pub object_stores: Vec<String>,
    /// `appdata_<instanceid>` exists in the declared bucket's storage.
    pub appdata_found: bool,
    pub enabled_apps: Vec<String>,
    pub accounts: i64,
}

/// A space's accounts and when they were last used (Unix seconds).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountFacts {
    pub accounts: i64,
    pub last_login: Option<i64>,
    pub last_activity: Option<i64>,
}

/// What decides a space's sleep, read as its role (Unix seconds).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActivityFacts {
    /// The newest use of a browser session (type 0) or an app password (type 1); wipe tokens
    /// (type 2) are not use.
    pub last_use: Option<i64>,
    /// When Nextcloud last finished a background run.
    pub last_cron: Option<i64>,
    /// The earliest calendar reminder still to send.
    pub next_reminder: Option<i64>,
}

/// What the admin sees of an adopted database and role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseFacts {
    /// The database's owner, `None` when there is no such database.
    pub owner: Option<String>,
    pub role_exists: bool,
}

impl PgAdmin {
    /// Whether the database and the role exist, and whose the database is (the admin's reads).
    pub async fn database_facts(&self, database: &str, role: &str) -> Result<DatabaseFacts, ProvisionError> {
        let _permit = self.permit().await?;
        bounded(System::Postgres, OPERATION_BOUND, async {
            let owner: Option<String> = sqlx::query_scalar("SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1")
                .bind(database)
                .fetch_optional(&self.admin)
                .await
                .map_err(|e| classify("read the database", e))?;
            let role_exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
                .bind(role)
                .fetch_one(&self.admin)
                .await
                .map_err(|e| classify("read the role", e))?;
            Ok(DatabaseFacts { owner, role_exists })
        })
        .await
    }

    async fn connect_as_space(
        &self,
        names: &TenantNames,
        password: &str,
        operation: &'static str,
    ) -> Result<sqlx::PgConnection, ProvisionError> {
        let options = self.target.options(&self.database_of(names)).username(&names.role).password(password);
        sqlx::PgConnection::connect_with(&options).await.map_err(|e| classify(operation, e))
    }

    /// What the adopted database holds, read as its role; `None` when the password does not log in.
    pub async fn instance_facts(
        &self,
        names: &TenantNames,
        password: &str,
        bucket: &str,
        instance_id: &str,
    ) -> Result<Option<InstanceFacts>, ProvisionError> {
        let _permit = self.permit().await?;
        bounded(System::Postgres, OPERATION_BOUND, async {
            let mut conn = match self.connect_as_space(names, password, "read the instance").await {
                Ok(c) => c,
                Err(ProvisionError::Unauthorized { .. }) => return Ok(None),
                Err(e) => return Err(e),
            };
            let op = |e| classify("read the instance", e);
            let table: Option<String> =
                sqlx::query_scalar("SELECT to_regclass('oc_appconfig')::text").fetch_one(&mut conn).await.map_err(op)?;
            if table.is_none() {
                let _ = conn.close().await;
                return Ok(Some(InstanceFacts::default()));
            }
            let installed: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM oc_appconfig WHERE appid = 'core' AND configkey = 'installedat')")
                    .fetch_one(&mut conn)
                    .await
                    .map_err(op)?;
            let object_stores: Vec<String> =
                sqlx::query_scalar("SELECT id::text FROM oc_storages WHERE id LIKE 'object::store:%' ORDER BY id")
                    .fetch_all(&mut conn)
                    .await
                    .map_err(op)?;
            let appdata_found: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM oc_filecache f JOIN oc_storages s ON s.numeric_id = f.storage \
                 WHERE s.id = $1 AND f.path_hash = md5($2))",
            )
            .bind(format!("object::store:amazon::{bucket}"))
            .bind(format!("appdata_{instance_id}"))
            .fetch_one(&mut conn)
            .await
            .map_err(op)?;
            let mut enabled_apps: Vec<String> =
                sqlx::query_scalar("SELECT appid::text FROM oc_appconfig WHERE configkey = 'enabled' AND configvalue::text <> 'no'")
                    .fetch_all(&mut conn)
                    .await
                    .map_err(op)?;
            enabled_apps.sort();
            let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM oc_users").fetch_one(&mut conn).await.map_err(op)?;
            let _ = conn.close().await;
            Ok(Some(InstanceFacts { installed, object_stores, appdata_found, enabled_apps, accounts }))
        })
        .await
    }

    /// The last use, the last background run and the next calendar reminder of a space, read as
    /// its role: an index read, one row, and a small table (a space's reminders) when the dav
    /// app's table exists.
    pub async fn activity_facts(&self, names: &TenantNames, password: &str) -> Result<ActivityFacts, ProvisionError> {
        let _permit = self.permit().await?;
        bounded(System::Postgres, OPERATION_BOUND, async {
            let mut conn = self.connect_as_space(names, password, "read the activity").await?;
            let op = |e| classify("read the activity", e);
            let (last_use, last_cron, reminders): (Option<i64>, Option<i64>, bool) = sqlx::query_as(
                "SELECT (SELECT max(last_activity)::bigint FROM oc_authtoken WHERE type IN (0, 1)), \
                 (SELECT configvalue::text::bigint FROM oc_appconfig WHERE appid = 'core' AND configkey = 'lastcron' \
                  AND configvalue::text ~ '^[0-9]{1,18}$'), \
                 to_regclass('oc_calendar_reminders') IS NOT NULL",
            )
            .fetch_one(&mut conn)
            .await
            .map_err(op)?;
            let next_reminder: Option<i64> = if reminders {
                sqlx::query_scalar("SELECT min(notification_date)::bigint FROM oc_calendar_reminders")
                    .fetch_one(&mut conn)
                    .await
                    .map_err(op)?
            } else {
                None
            };
            let _ = conn.close().await;
            Ok(ActivityFacts { last_use, last_cron, next_reminder })
        })
        .await
    }

    /// The space's accounts, last login and last activity, read as its role: three index or
    /// small-table reads (`oc_users` holds at most the class's account limit).
    pub async fn account_facts(&self, names: &TenantNames, password: &str) -> Result<AccountFacts, ProvisionError> {
        let _permit = self.permit().await?;
        bounded(System::Postgres, OPERATION_BOUND, async {
            let mut conn = self.connect_as_space(names, password, "read the accounts").await?;
            let op = |e| classify("read the accounts", e);
            let (accounts, last_login, last_activity): (i64, Option<i64>, Option<i64>) = sqlx::query_as(
                "SELECT (SELECT count(*) FROM oc_users), \
                 (SELECT max(configvalue::text::bigint) FROM oc_preferences WHERE appid = 'login' AND configkey = 'lastLogin' \
                  AND configvalue::text ~ '^[0-9]{1,18}$'), \
                 (SELECT max(last_activity)::bigint FROM oc_authtoken)",
            )
            .fetch_one(&mut conn)
            .await
            .map_err(op)?;
            let _ = conn.close().await;
            Ok(AccountFacts { accounts, last_login, last_activity })
        })
        .await
    }
}
