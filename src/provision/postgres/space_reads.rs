//! What the operator reads in a space's own database, as the space's role: whether its password
//! works, whether Nextcloud is installed there, and which apps it has enabled.

use sqlx::Connection;

use super::{Installation, PgAdmin, classify};
use crate::provision::{OPERATION_BOUND, ProvisionError, System, TenantNames, bounded};

impl PgAdmin {
    /// Whether the space's own credentials log in (a read: nothing is written to check it).
    pub async fn password_works(&self, names: &TenantNames, password: &str) -> Result<bool, ProvisionError> {
        let db = self.database_of(names);
        let options = self.target.options(&db).username(&names.role).password(password);
        match sqlx::PgConnection::connect_with(&options).await {
            Ok(conn) => {
                let _ = conn.close().await;
                Ok(true)
            }
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("28P01") => Ok(false),
            // The database may not exist yet on first provisioning: the password is checked next time.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("3D000") => Ok(true),
            Err(e) => Err(classify("check the space's credentials", e)),
        }
    }

    /// What the space's database holds of a Nextcloud, read as the space's own role: its
    /// search_path is where Nextcloud created its tables (the role's schema in a shared database,
    /// `public` in its own). Setup writes `core/installedat` into `oc_appconfig` only after the
    /// migrations and the admin account succeeded (`lib/private/Setup.php` `install()`), so tables
    /// without it are an install that stopped midway, which the installer resumes.
    pub async fn installation(&self, names: &TenantNames, password: &str) -> Result<Installation, ProvisionError> {
        let _permit = self.permit().await?;
        bounded(System::Postgres, OPERATION_BOUND, self.installation_now(names, password)).await
    }

    /// The apps enabled in the space's Nextcloud, read as its own role: `<app>.enabled` in
    /// `oc_appconfig` is `yes`, `no`, or the JSON list of groups it is limited to
    /// (`AppManager::enableAppForGroups`), which is enabled too.
    pub async fn enabled_apps(&self, names: &TenantNames, password: &str) -> Result<Vec<String>, ProvisionError> {
        let _permit = self.permit().await?;
        bounded(System::Postgres, OPERATION_BOUND, async {
            let db = self.database_of(names);
            let options = self.target.options(&db).username(&names.role).password(password);
            let mut conn = sqlx::PgConnection::connect_with(&options).await.map_err(|e| classify("read the space's apps", e))?;
            let apps: Vec<String> =
                sqlx::query_scalar("SELECT appid::text FROM oc_appconfig WHERE configkey = 'enabled' AND configvalue::text <> 'no'")
                    .fetch_all(&mut conn)
                    .await
                    .map_err(|e| classify("read the space's apps", e))?;
            let _ = conn.close().await;
            Ok(apps)
        })
        .await
    }

    /// How many rows each of `tables` holds, read as the space's own role (its search_path finds
    /// them). A table that does not exist reads as -1. For restore tests: a clone's database
    /// against the counts of the dump it was restored from.
    pub async fn row_counts(
        &self,
        names: &TenantNames,
        password: &str,
        tables: &[String],
    ) -> Result<std::collections::BTreeMap<String, i64>, ProvisionError> {
        let _permit = self.permit().await?;
        bounded(System::Postgres, OPERATION_BOUND, async {
            let db = self.database_of(names);
            let options = self.target.options(&db).username(&names.role).password(password);
            let mut conn = sqlx::PgConnection::connect_with(&options).await.map_err(|e| classify("count the space's rows", e))?;
            let mut counts = std::collections::BTreeMap::new();
            for table in tables {
                let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass(quote_ident($1))::text")
                    .bind(table)
                    .fetch_one(&mut conn)
                    .await
                    .map_err(|e| classify("count the space's rows", e))?;
                let n = match exists {
                    None => -1,
                    Some(_) => {
                        // The name is the dump's own and is quoted as an identifier: never SQL.
                        let sql = format!("SELECT count(*) FROM \"{}\"", table.replace('"', "\"\""));
                        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                            .fetch_one(&mut conn)
                            .await
                            .map_err(|e| classify("count the space's rows", e))?
                    }
                };
                counts.insert(table.clone(), n);
            }
            let _ = conn.close().await;
            Ok(counts)
        })
        .await
    }

    async fn installation_now(&self, names: &TenantNames, password: &str) -> Result<Installation, ProvisionError> {
        let db = self.database_of(names);
        let options = self.target.options(&db).username(&names.role).password(password);
        let mut conn = sqlx::PgConnection::connect_with(&options).await.map_err(|e| classify("read the space's tables", e))?;
        let table: Option<String> = sqlx::query_scalar("SELECT to_regclass('oc_appconfig')::text")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| classify("read the space's tables", e))?;
        let found = match table {
            None => Installation::Empty,
            Some(_) => {
                let at: Option<String> =
                    sqlx::query_scalar("SELECT configvalue::text FROM oc_appconfig WHERE appid = 'core' AND configkey = 'installedat'")
                        .fetch_optional(&mut conn)
                        .await
                        .map_err(|e| classify("read the space's tables", e))?;
                match at {
                    Some(at) => Installation::Installed { installed_at: at },
                    None => Installation::Partial,
                }
            }
        };
        let _ = conn.close().await;
        Ok(found)
    }
}
