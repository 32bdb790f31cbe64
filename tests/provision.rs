//! Provisioning against the real PostgreSQL, Redis, MinIO and Garage of the local environment
//! (`make cluster-up`, then `. e2e/.state/env`): each space reaches its own share and is refused
//! on the other's, provisioning twice writes nothing, quotas hold, Retain keeps data and blocks
//! the space, Delete removes everything.

// A test crate: a failed expectation is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use framaspace_operator::api::database_pool::{DatabaseIsolation, SslMode};
use framaspace_operator::provision::garage::GarageAdmin;
use framaspace_operator::provision::minio::{Bucket, MinioAdmin, Ownership};
use framaspace_operator::provision::postgres::{PgAdmin, PgTarget};
use framaspace_operator::provision::redis::{RedisAdmin, RedisTarget, url};
use framaspace_operator::provision::s3::SignedClient;
use framaspace_operator::provision::{ProvisionError, StorageUsage, System, TenantNames, Writes};
use reqwest::Method;
use sqlx::{Connection, PgConnection};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run `make cluster-up` and `. e2e/.state/env`"))
}

/// A name unique to this run, so reruns against the same servers never meet old state.
fn unique(prefix: &str) -> String {
    format!("{prefix}{}", getrandom::u32().expect("random") % 1_000_000)
}

fn random_hex(len: usize) -> String {
    let mut b = vec![0u8; len / 2];
    getrandom::fill(&mut b).expect("random");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn pg_target(isolation: DatabaseIsolation, shared: &str) -> PgTarget {
    PgTarget {
        host: env("FRAMASPACE_PG_HOST"),
        port: env("FRAMASPACE_PG_PORT").parse().expect("port"),
        username: env("FRAMASPACE_PG_USER"),
        password: env("FRAMASPACE_PG_PASSWORD"),
        ssl_mode: SslMode::Disable,
        isolation,
        shared_database: shared.into(),
        max_connections: 4,
        ca: None,
        tenant_connections: 20,
    }
}

/// A pool whose roles may hold 45 connections each, on the environment's server
/// (`max_connections` 2000): it takes no more spaces than leave the superusers' slots and the
/// operator's own connections free when every role is at its limit, and its roles carry the limit
/// (hostile pass 2, F7: 50 per role against 300 let six sign-ups lock out a 500-space pool).
#[tokio::test]
async fn the_server_connections_bound_a_pool_so_its_tenants_never_lock_out_the_operator() {
    let admin =
        PgAdmin::connect(PgTarget { tenant_connections: 45, ..pg_target(DatabaseIsolation::Database, "x") }).await.expect("connect");
    let (spaces, max_connections) = admin.connection_capacity().await.expect("capacity");
    let mut conn = connect_as(&env("FRAMASPACE_PG_USER"), &env("FRAMASPACE_PG_PASSWORD"), "postgres").await.expect("admin connection");
    let reserved: String =
        sqlx::query_scalar("SELECT current_setting('superuser_reserved_connections')").fetch_one(&mut conn).await.expect("setting");
    let reserved: i64 = reserved.parse().expect("a number");
    assert_eq!(spaces, (max_connections - reserved - 4) / 45, "max_connections {max_connections}, reserved {reserved}");
    assert!(spaces * 45 + reserved + 4 <= max_connections, "every tenant at its limit leaves the operator its connections");
    assert!((spaces + 1) * 45 + reserved + 4 > max_connections, "one more space would not");
    let names = TenantNames::new(&unique("conn"));
    admin.ensure(&names, "pw-conn-limit-e2e").await.expect("ensure");
    assert_eq!(connection_limit(&mut conn, &names.role).await, 45);
    let lower =
        PgAdmin::connect(PgTarget { tenant_connections: 24, ..pg_target(DatabaseIsolation::Database, "x") }).await.expect("connect");
    assert_eq!(lower.ensure(&names, "pw-conn-limit-e2e").await.expect("ensure again"), Writes(1), "a changed limit reaches the role");
    assert_eq!(connection_limit(&mut conn, &names.role).await, 24);
    lower.remove(&names).await.expect("remove");
}

async fn connection_limit(conn: &mut PgConnection, role: &str) -> i32 {
    sqlx::query_scalar("SELECT rolconnlimit FROM pg_roles WHERE rolname = $1").bind(role).fetch_one(conn).await.expect("the role")
}

async fn connect_as(role: &str, password: &str, database: &str) -> Result<PgConnection, sqlx::Error> {
    let url =
        format!("postgres://{role}:{password}@{}:{}/{database}?sslmode=disable", env("FRAMASPACE_PG_HOST"), env("FRAMASPACE_PG_PORT"));
    PgConnection::connect(&url).await
}

async fn pg_isolation(isolation: DatabaseIsolation) {
    let shared = unique("framaspace_shared_");
    let admin = PgAdmin::connect(pg_target(isolation, &shared)).await.expect("admin connects");
    let (a, b) = (TenantNames::new(&unique("a")), TenantNames::new(&unique("b")));
    let (pa, pb) = (random_hex(32), random_hex(32));
    let t = std::time::Instant::now();
    assert!(admin.ensure(&a, &pa).await.expect("ensure a").0 > 0);
    let first = t.elapsed();
    admin.ensure(&b, &pb).await.expect("ensure b");
    let t = std::time::Instant::now();
    assert_eq!(admin.ensure(&a, &pa).await.expect("ensure a again"), Writes(0), "provisioning twice writes nothing");
    eprintln!("figure: postgres {isolation:?}: provision one space {first:?}, check an unchanged one {:?}", t.elapsed());

    let (db_a, db_b) = (admin.database_of(&a), admin.database_of(&b));
    let mut ca = connect_as(&a.role, &pa, &db_a).await.expect("a reaches its database");
    sqlx::raw_sql("CREATE TABLE files (id int); INSERT INTO files VALUES (1), (2)").execute(&mut ca).await.expect("a writes");
    let mut cb = connect_as(&b.role, &pb, &db_b).await.expect("b reaches its database");
    match isolation {
        DatabaseIsolation::Database => {
            assert!(connect_as(&a.role, &pa, &db_b).await.is_err(), "a is refused on b's database");
            assert!(connect_as(&b.role, &pb, &db_a).await.is_err(), "b is refused on a's database");
        }
        DatabaseIsolation::Schema => {
            let q = format!("SELECT count(*) FROM {}.files", a.role);
            let err = sqlx::raw_sql(sqlx::AssertSqlSafe(q)).execute(&mut cb).await.expect_err("b cannot read a's schema");
            assert!(err.to_string().contains("permission denied"), "{err}");
            let err = sqlx::raw_sql("CREATE TABLE public.intrusion (id int)").execute(&mut cb).await.expect_err("no table in public");
            assert!(err.to_string().contains("permission denied"), "{err}");
        }
    }
    assert!(connect_as(&a.role, &pb, &db_a).await.is_err(), "a wrong password is refused");
    assert!(admin.ensure(&a, "a-new-password-0123456789").await.expect("password change").0 > 0, "a changed password is applied");
    assert!(connect_as(&a.role, "a-new-password-0123456789", &db_a).await.is_ok());
    admin.ensure(&a, &pa).await.expect("password back");
    drop(ca);

    // Retain: no login, data kept; ensuring again gives the data back.
    admin.revoke(&a).await.expect("revoke a");
    assert!(connect_as(&a.role, &pa, &db_a).await.is_err(), "a revoked role cannot log in");
    admin.ensure(&a, &pa).await.expect("re-create a");
    let mut ca = connect_as(&a.role, &pa, &db_a).await.expect("a is back");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM files").fetch_one(&mut ca).await.expect("a reads its rows");
    assert_eq!(rows, 2, "Retain kept every row");
    drop(ca);

    // Delete, with b's session still open, after b made its own database a template (its owner
    // may), which DROP DATABASE refuses.
    if isolation == DatabaseIsolation::Database {
        let mut owner = connect_as(&b.role, &pb, &db_b).await.expect("b connects");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("ALTER DATABASE \"{}\" IS_TEMPLATE true", b.role)))
            .execute(&mut owner)
            .await
            .expect("the owner makes its database a template");
    }
    assert!(admin.remove(&b).await.expect("drop b").0 > 0);
    assert!(connect_as(&b.role, &pb, &db_b).await.is_err(), "b is gone");
    assert!(sqlx::raw_sql("SELECT 1").execute(&mut cb).await.is_err(), "b's open session was ended");
    assert_eq!(admin.remove(&b).await.expect("drop b again"), Writes(0), "dropping twice writes nothing");
    admin.remove(&a).await.expect("clean a");
}

#[tokio::test]
async fn postgres_database_isolation() {
    pg_isolation(DatabaseIsolation::Database).await;
}

#[tokio::test]
async fn postgres_schema_isolation() {
    pg_isolation(DatabaseIsolation::Schema).await;
}

#[tokio::test]
async fn postgres_wrong_admin_password_is_reported() {
    let mut t = pg_target(DatabaseIsolation::Database, "x");
    t.password = "wrong".into();
    match PgAdmin::connect(t).await {
        Err(ProvisionError::Unauthorized { .. }) => {}
        Err(e) => panic!("expected Unauthorized, got {e}"),
        Ok(_) => panic!("a wrong admin password was accepted"),
    }
}

async fn redis_as(user: &str, password: &str, database: u32) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    let base = url(&env("FRAMASPACE_REDIS_HOST"), env("FRAMASPACE_REDIS_PORT").parse().expect("port"), false, user, password);
    let c = redis::Client::open(format!("{base}/{database}"))?;
    c.get_multiplexed_async_connection().await
}

/// Two databases the operator's own spaces (which take the lowest free ones) will not reach.
fn spare_databases() -> (u32, u32) {
    let mut b = [0u8; 2];
    getrandom::fill(&mut b).expect("random");
    let n = 12_000 + u32::from(u16::from_le_bytes(b) % 4_000);
    (n, n + 1)
}

/// The Redis tests share one server whose memory bound one of them changes.
static REDIS_SERVER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn redis_target() -> RedisTarget {
    RedisTarget {
        host: env("FRAMASPACE_REDIS_HOST"),
        port: env("FRAMASPACE_REDIS_PORT").parse().expect("port"),
        tls: false,
        username: env("FRAMASPACE_REDIS_USER"),
        password: env("FRAMASPACE_REDIS_PASSWORD"),
        max_concurrent: 4,
        ca: None,
    }
}

/// PostgreSQL (TLS on, its certificate from the environment's private CA) with `verify-full`,
/// and the Valkey reached over TLS only: the operator's own connections trust the pool's CA,
/// and without it (the public roots) they are refused.
#[tokio::test]
async fn verify_full_and_tls_trust_the_pools_ca_and_only_it() {
    let ca = std::fs::read_to_string(env("FRAMASPACE_SERVICES_CA")).expect("the environment's CA");
    let ca = framaspace_operator::provision::tls::certificates_only(ca.as_bytes()).expect("a certificate");
    let verified =
        |ca: Option<String>| PgTarget { ssl_mode: SslMode::VerifyFull, ca, ..pg_target(DatabaseIsolation::Database, "framaspace") };
    let admin = PgAdmin::connect(verified(Some(ca.clone()))).await.expect("the server verified against the pool's CA");
    assert!(admin.server_version().await.is_ok());
    let refused = PgAdmin::connect(verified(None)).await.err().expect("the public roots do not know the private CA");
    assert!(matches!(refused, ProvisionError::Unreachable { .. }), "{refused}");
    let tls =
        |ca: Option<String>| RedisTarget { port: env("FRAMASPACE_REDIS_TLS_PORT").parse().expect("port"), tls: true, ca, ..redis_target() };
    let redis = RedisAdmin::connect(&tls(Some(ca))).await.expect("Valkey over TLS, verified against the pool's CA");
    assert!(redis.server_info().await.is_ok());
    assert!(RedisAdmin::connect(&tls(None)).await.is_err(), "the public roots do not know the private CA");
}

async fn used_memory(c: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO").arg("memory").query_async(c).await.expect("INFO memory");
    info.lines().find_map(|l| l.strip_prefix("used_memory:")).and_then(|v| v.trim().parse().ok()).expect("used_memory")
}

/// Hostile: a space writes 5 MB values, without a TTL, far beyond its share. With the CachePool's
/// `maxMemory` the server evicts instead of growing, and no write of any space is refused.
#[tokio::test]
async fn redis_memory_is_bounded() {
    let _one = REDIS_SERVER.lock().await;
    let target = redis_target();
    let admin = RedisAdmin::connect(&target).await.expect("admin connects");
    let mut root = redis_as(&target.username, &target.password, 0).await.expect("admin session");
    let (_, old_max): (String, u64) = redis::cmd("CONFIG").arg("GET").arg("maxmemory").query_async(&mut root).await.expect("get");
    let (_, old_policy): (String, String) =
        redis::cmd("CONFIG").arg("GET").arg("maxmemory-policy").query_async(&mut root).await.expect("get");
    let limit = used_memory(&mut root).await + (24 << 20);
    assert!(admin.ensure_memory(limit, "allkeys-lru").await.expect("bound the memory") > 0);
    assert_eq!(admin.ensure_memory(limit, "allkeys-lru").await.expect("again"), 0, "a second check writes nothing");

    let (hog, other) = (TenantNames::new(&unique("hog")), TenantNames::new(&unique("other")));
    let (ph, po) = (random_hex(40), random_hex(40));
    let (dh, d_other) = spare_databases();
    admin.ensure(&hog, &ph, dh).await.expect("ensure the hog");
    admin.ensure(&other, &po, d_other).await.expect("ensure another space");
    let mut h = redis_as(&hog.redis_user, &ph, dh).await.expect("hog logs in");
    let mut o = redis_as(&other.redis_user, &po, d_other).await.expect("other logs in");
    let value = vec![b'x'; 5 << 20];
    for i in 0..12 {
        let _: () =
            redis::cmd("SET").arg(format!("{}big{i}", hog.redis_prefix)).arg(&value).query_async(&mut h).await.expect("no OOM refusal");
        let _: () = redis::cmd("SETEX")
            .arg(format!("{}cache{i}", other.redis_prefix))
            .arg(3600)
            .arg("v")
            .query_async(&mut o)
            .await
            .expect("the other space still writes");
    }
    let used = used_memory(&mut root).await;
    assert!(used <= limit + (6 << 20), "60 MB written, the server holds {used} bytes for a bound of {limit}");
    let kept: i64 = redis::cmd("DBSIZE").query_async(&mut h).await.expect("dbsize");
    assert!(kept < 12, "the hog's oldest values were evicted ({kept} of 12 kept)");

    let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg(old_max).query_async(&mut root).await.expect("restore");
    let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory-policy").arg(old_policy).query_async(&mut root).await.expect("restore");
    admin.delete(&hog, Some(dh)).await.expect("clean");
    admin.delete(&other, Some(d_other)).await.expect("clean");
}

#[tokio::test]
async fn redis_database_isolation() {
    let _one = REDIS_SERVER.lock().await;
    let target = redis_target();
    let admin = RedisAdmin::connect(&target).await.expect("admin connects");
    let info = admin.server_info().await.expect("a Valkey that pins databases");
    assert!(info.version.starts_with("Valkey 9."), "{info:?}");
    assert_eq!(info.databases, 16384);
    let (a, b, c) = (TenantNames::new(&unique("a")), TenantNames::new(&unique("b")), TenantNames::new(&unique("c")));
    let (pa, pb, pc) = (random_hex(40), random_hex(40), random_hex(40));
    let (da, db) = spare_databases();

    // Keys a deleted space left in the database a new space is given are not the new space's.
    let mut root_a = redis_as(&target.username, &target.password, da).await.expect("admin in a's database");
    let _: () = redis::cmd("SET").arg("space-gone:leftover").arg("x").query_async(&mut root_a).await.expect("admin writes");
    let t = std::time::Instant::now();
    assert_eq!(admin.ensure(&a, &pa, da).await.expect("ensure a"), Writes(2), "the database emptied, then the user set");
    let first = t.elapsed();
    let size: i64 = redis::cmd("DBSIZE").query_async(&mut root_a).await.expect("dbsize");
    assert_eq!(size, 0, "the leftover keys are gone before a gets the database");
    admin.ensure(&b, &pb, db).await.expect("ensure b");
    let t = std::time::Instant::now();
    assert_eq!(admin.ensure(&a, &pa, da).await.expect("ensure a again"), Writes(0), "provisioning twice writes nothing");
    eprintln!("figure: redis: provision one space {first:?}, check an unchanged one {:?}", t.elapsed());
    match admin.ensure(&c, &pc, da).await {
        Err(ProvisionError::Conflict { message, .. }) => assert!(message.contains(&a.redis_user), "{message}"),
        other => panic!("a database held by another user must be refused, got {other:?}"),
    }
    assert!(admin.get_user(&c.redis_user).await.expect("read").is_none(), "nothing was written for c");

    let mut ca = redis_as(&a.redis_user, &pa, da).await.expect("a logs in, in its database");
    let mut cb = redis_as(&b.redis_user, &pb, db).await.expect("b logs in, in its database");
    let key_a = format!("{}cache", a.redis_prefix);
    let key_b = format!("{}cache", b.redis_prefix);
    let _: () = redis::cmd("SET").arg(&key_a).arg("1").query_async(&mut ca).await.expect("a writes its key");
    let _: () = redis::cmd("SET").arg(&key_b).arg("2").query_async(&mut cb).await.expect("b writes its key");
    let denied = |r: redis::RedisResult<redis::Value>| r.err().and_then(|e| e.code().map(String::from));
    assert_eq!(denied(redis::cmd("GET").arg(&key_b).query_async(&mut ca).await).as_deref(), Some("NOPERM"), "a cannot read b's key");
    assert_eq!(
        denied(redis::cmd("SET").arg("unprefixed").arg("x").query_async(&mut ca).await).as_deref(),
        Some("NOPERM"),
        "a cannot write outside its prefix"
    );
    assert!(redis_as(&a.redis_user, &pa, db).await.is_err(), "a cannot open b's database");
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut ca).await.expect("a lists its database");
    assert_eq!(keys, vec![key_a.clone()], "KEYS shows a its own key and nothing of b's");
    let (_, scanned): (u64, Vec<String>) = redis::cmd("SCAN").arg(0).arg("COUNT").arg(1000).query_async(&mut ca).await.expect("scan");
    assert_eq!(scanned, vec![key_a.clone()], "SCAN too");
    for forbidden in [
        &["FLUSHALL"][..],
        &["CONFIG", "GET", "*"],
        &["ACL", "LIST"],
        &["CLIENT", "LIST"],
        &["CLIENT", "TRACKING", "on", "BCAST"],
        &["PUBSUB", "CHANNELS"],
        &["FUNCTION", "FLUSH"],
        &["SCRIPT", "FLUSH"],
        &["INFO"],
        &["MEMORY", "STATS"],
        &["SWAPDB", "0", "1"],
    ] {
        let mut cmd = redis::cmd(forbidden[0]);
        for arg in &forbidden[1..] {
            cmd.arg(*arg);
        }
        assert_eq!(denied(cmd.query_async(&mut ca).await).as_deref(), Some("NOPERM"), "{forbidden:?} is denied");
    }
    assert!(redis_as(&a.redis_user, &pb, da).await.is_err(), "a wrong password is refused");
    drop((ca, cb));

    admin.revoke(&a).await.expect("revoke a");
    assert!(redis_as(&a.redis_user, &pa, da).await.is_err(), "a revoked user cannot log in");
    let kept: Option<String> = redis::cmd("GET").arg(&key_a).query_async(&mut root_a).await.expect("admin reads");
    assert_eq!(kept.as_deref(), Some("1"), "Retain keeps the keys");
    admin.ensure(&a, &pa, da).await.expect("re-enable a");
    assert!(redis_as(&a.redis_user, &pa, da).await.is_ok(), "a is back");

    admin.delete(&b, Some(db)).await.expect("delete b");
    let mut root_b = redis_as(&target.username, &target.password, db).await.expect("admin in b's database");
    let size: i64 = redis::cmd("DBSIZE").query_async(&mut root_b).await.expect("dbsize");
    assert_eq!(size, 0, "Delete empties the space's database");
    assert!(admin.get_user(&b.redis_user).await.expect("read").is_none(), "Delete removes the user");
    match admin.delete(&c, Some(da)).await {
        Err(ProvisionError::Conflict { .. }) => {}
        other => panic!("deleting a space never empties a database another user holds, got {other:?}"),
    }
    let still: Option<String> = redis::cmd("GET").arg(&key_a).query_async(&mut root_a).await.expect("admin reads");
    assert_eq!(still.as_deref(), Some("1"), "a's keys survive a delete aimed at its database");
    admin.delete(&a, Some(da)).await.expect("clean a");
}

/// Either S3 provider, behind the calls the shared scenario makes.
enum Store {
    Minio(MinioAdmin),
    Garage(GarageAdmin),
}

impl Store {
    async fn ensure(&self, b: &Bucket<'_>) -> Result<Writes, ProvisionError> {
        match self {
            Store::Minio(a) => a.ensure(b).await,
            Store::Garage(a) => a.ensure(b).await,
        }
    }
    async fn revoke(&self, b: &Bucket<'_>) -> Result<Writes, ProvisionError> {
        match self {
            Store::Minio(a) => a.revoke(b).await,
            Store::Garage(a) => a.revoke(b).await,
        }
    }
    async fn delete(&self, b: &Bucket<'_>) -> Result<Writes, ProvisionError> {
        match self {
            Store::Minio(a) => a.delete(b).await,
            Store::Garage(a) => a.delete(b).await,
        }
    }
    async fn exists(&self, bucket: &str) -> Result<bool, ProvisionError> {
        match self {
            Store::Minio(a) => a.bucket_exists(bucket).await,
            Store::Garage(a) => a.bucket_exists(bucket).await,
        }
    }
    async fn measure(&self, b: &Bucket<'_>) -> Result<StorageUsage, ProvisionError> {
        match self {
            Store::Minio(a) => a.measure(b).await,
            Store::Garage(a) => a.measure(b).await,
        }
    }
    async fn ownership(&self, b: &Bucket<'_>) -> Result<Ownership, ProvisionError> {
        match self {
            Store::Minio(a) => a.ownership(b).await,
            Store::Garage(a) => a.ownership(b).await,
        }
    }
}

/// The S3 side shared by both providers: isolation, quota, Retain, Delete.
async fn s3_isolation(store: Store, system: System, endpoint: &str, region: &str, secret_len: usize) {
    let ensure = async |b: &Bucket<'_>| store.ensure(b).await;
    let revoke = async |b: &Bucket<'_>| store.revoke(b).await;
    let delete = async |b: &Bucket<'_>| store.delete(b).await;
    let exists = async |n: &str| store.exists(n).await;
    let (name_a, name_b) = (unique("space-a"), unique("space-b"));
    let (ka, kb) = (format!("GK{}", random_hex(24)), format!("GK{}", random_hex(24)));
    let (sa, sb) = (random_hex(secret_len), random_hex(secret_len));
    let quota = 1 << 20;
    let a = Bucket { bucket: &name_a, access_key: &ka, secret_key: &sa, quota_bytes: quota, writable: true };
    let b = Bucket { bucket: &name_b, access_key: &kb, secret_key: &sb, quota_bytes: quota, writable: true };
    let t = std::time::Instant::now();
    assert!(ensure(&a).await.expect("ensure a").0 > 0);
    let first = t.elapsed();
    ensure(&b).await.expect("ensure b");
    let t = std::time::Instant::now();
    assert_eq!(ensure(&a).await.expect("ensure a again"), Writes(0), "provisioning twice writes nothing");
    eprintln!("figure: {}: provision one space {first:?}, check an unchanged one {:?}", system.as_str(), t.elapsed());

    let client_a = SignedClient::new(endpoint, region, &ka, &sa, system).expect("client");
    let put = async |c: &SignedClient, bucket: &str, key: &str, size: usize| {
        c.send("put", Method::PUT, &format!("/{bucket}/{key}"), &[], vec![b'x'; size], &[]).await.map(|r| r.status.as_u16()).unwrap_or(0)
    };
    let get = async |c: &SignedClient, bucket: &str, key: &str| {
        c.send("get", Method::GET, &format!("/{bucket}/{key}"), &[], Vec::new(), &[]).await.map(|r| r.status.as_u16()).unwrap_or(0)
    };
    assert_eq!(put(&client_a, &name_a, "doc.odt", 1000).await, 200, "a writes its bucket");
    assert_eq!(get(&client_a, &name_a, "doc.odt").await, 200, "a reads its bucket");
    let client_b = SignedClient::new(endpoint, region, &kb, &sb, system).expect("client");
    assert_eq!(put(&client_b, &name_b, "b.txt", 10).await, 200, "b writes its bucket");
    assert_eq!(put(&client_a, &name_b, "intrusion", 10).await, 403, "a cannot write b's bucket");
    assert_eq!(get(&client_a, &name_b, "b.txt").await, 403, "a cannot read b's bucket");
    let listing = client_a.send("list", Method::GET, "/", &[], Vec::new(), &[]).await.expect("list buckets");
    assert!(!String::from_utf8_lossy(&listing.body).contains(&name_b), "a does not see b's bucket");
    let over = put(&client_a, &name_a, "too-big.bin", 2 << 20).await;
    assert!((400..500).contains(&over), "an upload above the quota is refused (got {over})");
    let created = client_a.send("create", Method::PUT, &format!("/{}", unique("intruder-bucket-")), &[], Vec::new(), &[]).await;
    assert_eq!(created.map(|r| r.status.as_u16()).unwrap_or(0), 403, "a space's key cannot create buckets");
    if system == System::Minio {
        let admin = client_a.send("admin", Method::GET, "/minio/admin/v3/info", &[], Vec::new(), &[]).await;
        assert_eq!(admin.map(|r| r.status.as_u16()).unwrap_or(0), 403, "a space's key cannot use the admin API");
        let request = framaspace_operator::provision::madmin::encrypt(&sa, br#"{"name":"mine"}"#).expect("sealed");
        let minted = client_a.send("mint", Method::PUT, "/minio/admin/v3/add-service-account", &[], request, &[]).await;
        assert_eq!(minted.map(|r| r.status.as_u16()).unwrap_or(0), 403, "nor mint a service account of its own (hostile pass 2, A4.5)");
    }
    let wrong = SignedClient::new(endpoint, region, &ka, &sb, system).expect("client");
    assert_eq!(get(&wrong, &name_a, "doc.odt").await, 403, "a wrong secret is refused");

    revoke(&a).await.expect("revoke a");
    let after = get(&client_a, &name_a, "doc.odt").await;
    assert!(after == 403 || after == 0, "a revoked key is refused (got {after})");
    ensure(&a).await.expect("re-create a");
    assert_eq!(get(&client_a, &name_a, "doc.odt").await, 200, "Retain kept the object and the same key works again");

    assert!(delete(&b).await.expect("delete b").0 > 0);
    assert!(!exists(&name_b).await.expect("read b"), "Delete removed the bucket with its objects");
    assert_ne!(get(&client_b, &name_b, "b.txt").await, 200, "b's key reads nothing any more");
    assert_eq!(delete(&b).await.expect("delete b again"), Writes(0), "deleting twice writes nothing");
    assert!(exists(&name_a).await.expect("read a"), "a's bucket is untouched");

    // Hostile: a's credentials regenerated (Secret lost, namespace re-created). The former key
    // must stop working at once, and must not block a later Delete.
    let (ka2, sa2) = (format!("GK{}", random_hex(24)), random_hex(secret_len));
    let a2 = Bucket { bucket: &name_a, access_key: &ka2, secret_key: &sa2, quota_bytes: quota, writable: true };
    assert!(ensure(&a2).await.expect("ensure a with a new key").0 > 0);
    let client_a2 = SignedClient::new(endpoint, region, &ka2, &sa2, system).expect("client");
    assert_eq!(get(&client_a2, &name_a, "doc.odt").await, 200, "the new key reads a's objects");
    let former = get(&client_a, &name_a, "doc.odt").await;
    assert!(former == 403 || former == 0, "the former key is refused once the new one is in place (got {former})");
    let write = put(&client_a, &name_a, "after.txt", 10).await;
    assert!(write == 403 || write == 0, "and cannot write (got {write})");
    assert_eq!(ensure(&a2).await.expect("ensure a2 again"), Writes(0), "nothing stale left: the next ensure writes nothing");
    assert!(delete(&a2).await.expect("Delete after a regenerated key").0 > 0, "Delete is not blocked by a former key");
    assert!(!exists(&name_a).await.expect("read a"), "a's bucket is gone");
    assert_eq!(delete(&a).await.expect("delete with the former key"), Writes(0), "and no key of a is left behind");
}

#[tokio::test]
async fn minio_bucket_isolation_and_quota() {
    let endpoint = env("FRAMASPACE_MINIO_URL");
    let admin =
        MinioAdmin::new(&endpoint, "us-east-1", &env("FRAMASPACE_MINIO_ACCESS_KEY"), &env("FRAMASPACE_MINIO_SECRET_KEY")).expect("admin");
    admin.server_version().await.expect("MinIO answers its admin");
    s3_isolation(Store::Minio(admin), System::Minio, &endpoint, "us-east-1", 40).await;
}

#[tokio::test]
async fn garage_bucket_isolation_and_quota() {
    let endpoint = env("FRAMASPACE_GARAGE_S3_URL");
    let admin =
        GarageAdmin::new(&env("FRAMASPACE_GARAGE_ADMIN_URL"), &env("FRAMASPACE_GARAGE_ADMIN_TOKEN"), &endpoint, "garage").expect("admin");
    admin.server_version().await.expect("Garage answers its admin");
    s3_isolation(Store::Garage(admin), System::Garage, &endpoint, "garage", 64).await;
}

/// Hostile: two spaces (or two operators) racing for a schema pool's new shared database, and an
/// ensure cut between creating the role and granting it the database. Both used to wedge a space
/// for ever on `permission denied for database`.
#[tokio::test]
async fn postgres_races_and_interruptions_converge() {
    let shared = unique("framaspace_race_");
    let (one, two) = (
        PgAdmin::connect(pg_target(DatabaseIsolation::Schema, &shared)).await.expect("admin connects"),
        PgAdmin::connect(pg_target(DatabaseIsolation::Schema, &shared)).await.expect("a second operator connects"),
    );
    let spaces: Vec<(TenantNames, String)> = (0..8).map(|_| (TenantNames::new(&unique("race")), random_hex(32))).collect();
    let (one_ref, two_ref) = (&one, &two);
    let results = futures::future::join_all(
        spaces
            .iter()
            .enumerate()
            .map(|(i, (n, p))| async move { if i % 2 == 0 { one_ref.ensure(n, p).await } else { two_ref.ensure(n, p).await } }),
    )
    .await;
    for (r, (n, _)) in results.iter().zip(&spaces) {
        assert!(r.is_ok(), "{} provisioned while racing for the shared database: {r:?}", n.role);
    }
    for (n, p) in &spaces {
        connect_as(&n.role, p, &shared).await.unwrap_or_else(|e| panic!("{} logs in to the shared database: {e}", n.role));
    }

    // Cut after the role: the role (with the operator's marker) exists, nothing granted yet.
    let cut = TenantNames::new(&unique("cut"));
    let password = random_hex(32);
    let mut admin = connect_as(&env("FRAMASPACE_PG_USER"), &env("FRAMASPACE_PG_PASSWORD"), "postgres").await.expect("admin session");
    let sql = format!(
        "CREATE ROLE {r} LOGIN PASSWORD '{password}'; COMMENT ON ROLE {r} IS '{}'",
        framaspace_operator::provision::postgres::ROLE_MARKER,
        r = cut.role
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await.expect("a role left by a cut ensure");
    one.ensure(&cut, &password).await.expect("the next ensure converges");
    connect_as(&cut.role, &password, &shared).await.expect("the space reaches its schema");
    assert_eq!(one.ensure(&cut, &password).await.expect("again"), Writes(0));
    for (n, _) in spaces.iter().chain([(cut, password)].iter()) {
        one.remove(n).await.expect("clean");
    }
}

/// Hostile: names that belong to someone else are never taken over, a schema pool is never put
/// inside a space's database, and tenants stay out of the server's own databases.
#[tokio::test]
async fn postgres_never_takes_what_is_not_its_own() {
    let conflict = |r: Result<Writes, ProvisionError>, what: &str| match r {
        Err(ProvisionError::Conflict { message, .. }) => eprintln!("refused ({what}): {message}"),
        other => panic!("{what}: expected a Conflict, got {other:?}"),
    };
    let pg = PgAdmin::connect(pg_target(DatabaseIsolation::Database, "unused")).await.expect("admin connects");
    let mut admin = connect_as(&env("FRAMASPACE_PG_USER"), &env("FRAMASPACE_PG_PASSWORD"), "postgres").await.expect("admin session");
    let run = async |admin: &mut PgConnection, sql: String| sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(admin).await.map(|_| ());

    // A role with a space's name, created by someone else: its password is not reset.
    let squatted = TenantNames::new(&unique("squat"));
    run(&mut admin, format!("CREATE ROLE {} LOGIN PASSWORD 'theirs-0123456789'", squatted.role)).await.expect("someone's role");
    let secret = async |admin: &mut PgConnection| -> Option<String> {
        sqlx::query_scalar("SELECT rolpassword FROM pg_authid WHERE rolname = $1")
            .bind(&squatted.role)
            .fetch_one(admin)
            .await
            .expect("read")
    };
    let before = secret(&mut admin).await;
    conflict(pg.ensure(&squatted, &random_hex(32)).await, "a role the operator did not create");
    assert_eq!(secret(&mut admin).await, before, "its password is unchanged");
    assert_eq!(pg.remove(&squatted).await.expect("Delete of the refused space"), Writes(0), "and a Delete leaves it alone");
    run(&mut admin, format!("DROP ROLE {}", squatted.role)).await.expect("clean");

    // A database with a space's derived name, owned by someone else: not adopted.
    let taken = TenantNames::new(&unique("taken"));
    run(&mut admin, format!("CREATE DATABASE {}", taken.role)).await.expect("someone's database");
    conflict(pg.ensure(&taken, &random_hex(32)).await, "a database the operator did not create");
    let owner: String = sqlx::query_scalar("SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1")
        .bind(&taken.role)
        .fetch_one(&mut admin)
        .await
        .expect("owner");
    assert_eq!(owner, env("FRAMASPACE_PG_USER"), "its owner is unchanged");
    pg.remove(&taken).await.expect("Delete of the refused space: the role the attempt created goes");
    run(&mut admin, format!("DROP DATABASE {}", taken.role)).await.expect("and their database is still there");

    // A schema pool pointed at a space's own database.
    let victim = TenantNames::new(&unique("victim"));
    let victim_password = random_hex(32);
    pg.ensure(&victim, &victim_password).await.expect("a space on its own database");
    let inside = PgAdmin::connect(pg_target(DatabaseIsolation::Schema, &victim.role)).await.expect("a pool on that database");
    let intruder = TenantNames::new(&unique("intruder"));
    conflict(inside.ensure(&intruder, &random_hex(32)).await, "a shared database that is a space's");
    let mut v = connect_as(&victim.role, &victim_password, &victim.role).await.expect("the victim's session");
    let schemas: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_namespace WHERE nspname = $1")
        .bind(&intruder.role)
        .fetch_one(&mut v)
        .await
        .expect("schemas");
    assert_eq!(schemas, 0, "no schema of another tenant was put in the space's database");
    drop(v);

    // The server's own databases: PUBLIC's CONNECT and TEMPORARY revoked, the admin still in.
    assert_eq!(pg.confine_tenants().await.expect("confine"), Vec::<String>::new(), "a superuser admin confines both");
    for db in ["postgres", "template1"] {
        let e = connect_as(&victim.role, &victim_password, db).await.expect_err("a tenant is refused");
        assert!(e.to_string().contains("permission denied"), "{db}: {e}");
    }
    pg.server_version().await.expect("the admin still reaches postgres");
    assert_eq!(pg.confine_tenants().await.expect("again"), Vec::<String>::new());
    inside.remove(&intruder).await.expect("clean");
    pg.remove(&victim).await.expect("clean");
}

/// The admin API of the environment's Garage, for what a test plays as another system.
async fn garage_admin(call: &str, body: serde_json::Value) -> serde_json::Value {
    let url = format!("{}/v2/{call}", env("FRAMASPACE_GARAGE_ADMIN_URL").trim_end_matches('/'));
    let reply =
        reqwest::Client::new().post(url).bearer_auth(env("FRAMASPACE_GARAGE_ADMIN_TOKEN")).json(&body).send().await.expect("garage admin");
    assert!(reply.status().is_success(), "{call}: HTTP {}", reply.status());
    reply.json().await.unwrap_or(serde_json::Value::Null)
}

async fn garage_bucket_info(bucket: &str) -> serde_json::Value {
    let url = format!("{}/v2/GetBucketInfo", env("FRAMASPACE_GARAGE_ADMIN_URL").trim_end_matches('/'));
    let reply = reqwest::Client::new()
        .get(url)
        .bearer_auth(env("FRAMASPACE_GARAGE_ADMIN_TOKEN"))
        .query(&[("globalAlias", bucket)])
        .send()
        .await
        .expect("garage admin");
    reply.json().await.expect("bucket info")
}

fn minio_root() -> SignedClient {
    SignedClient::new(
        &env("FRAMASPACE_MINIO_URL"),
        "us-east-1",
        &env("FRAMASPACE_MINIO_ACCESS_KEY"),
        &env("FRAMASPACE_MINIO_SECRET_KEY"),
        System::Minio,
    )
    .expect("root client")
}

async fn status_of(c: &SignedClient, method: Method, path: &str, query: &[(&str, &str)], body: Vec<u8>) -> u16 {
    c.send("test", method, path, query, body, &[]).await.map(|r| r.status.as_u16()).unwrap_or(0)
}

/// Hostile pass 2, F3: a bucket under a space's name that another system made (here with its own
/// key and an object) is neither read, granted, emptied nor deleted; its owner keeps it whole.
async fn foreign_bucket_is_never_taken(store: Store, system: System, endpoint: &str, region: &str, secret_len: usize) {
    let name = unique("space-elsewhere-");
    let owner = match system {
        System::Minio => {
            let root = minio_root();
            assert_eq!(status_of(&root, Method::PUT, &format!("/{name}"), &[], Vec::new()).await, 200, "their bucket");
            root
        }
        _ => {
            let (id, secret) = (format!("GK{}", random_hex(24)), random_hex(64));
            garage_admin("ImportKey", serde_json::json!({ "accessKeyId": id, "secretAccessKey": secret, "name": "archive-tool" })).await;
            let created = garage_admin("CreateBucket", serde_json::json!({ "globalAlias": name })).await;
            let bucket_id = created["id"].as_str().expect("bucket id").to_string();
            let allow = serde_json::json!({ "bucketId": bucket_id, "accessKeyId": id, "permissions": { "read": true, "write": true, "owner": true } });
            garage_admin("AllowBucketKey", allow).await;
            SignedClient::new(endpoint, region, &id, &secret, system).expect("their key")
        }
    };
    let object = format!("/{name}/ledger.ods");
    assert_eq!(status_of(&owner, Method::PUT, &object, &[], b"theirs, 2026".to_vec()).await, 200, "their object");

    let (key, secret) = (format!("GK{}", random_hex(24)), random_hex(secret_len));
    let space = Bucket { bucket: &name, access_key: &key, secret_key: &secret, quota_bytes: 1 << 20, writable: true };
    match store.ensure(&space).await {
        Err(ProvisionError::Conflict { message, .. }) => {
            assert!(message.contains(&name) && message.contains("not created by the operator"), "{message}")
        }
        other => panic!("a foreign bucket must be refused with a Conflict, got {other:?}"),
    }
    assert_eq!(store.ownership(&space).await.expect("ownership"), Ownership::Foreign);
    let space_client = SignedClient::new(endpoint, region, &key, &secret, system).expect("the space's key");
    assert_ne!(status_of(&space_client, Method::GET, &object, &[], Vec::new()).await, 200, "the space's key reads nothing of it");
    assert_eq!(store.revoke(&space).await.expect("Retain of the refused space"), Writes(0), "Retain takes no key's rights away");
    store.delete(&space).await.expect("Delete of the refused space");
    assert!(store.exists(&name).await.expect("read"), "Delete leaves their bucket");
    let read = owner.send("test", Method::GET, &object, &[], Vec::new(), &[]).await.expect("their read");
    assert_eq!((read.status.as_u16(), read.body.as_slice()), (200, &b"theirs, 2026"[..]), "and its owner still reads the object");
    assert_eq!(status_of(&owner, Method::PUT, &format!("/{name}/more"), &[], b"x".to_vec()).await, 200, "and writes");
    assert_eq!(store.measure(&space).await.expect("measure"), StorageUsage::default(), "nor is it measured or its uploads aborted");
}

#[tokio::test]
async fn minio_never_takes_a_bucket_it_did_not_create() {
    let endpoint = env("FRAMASPACE_MINIO_URL");
    let admin =
        MinioAdmin::new(&endpoint, "us-east-1", &env("FRAMASPACE_MINIO_ACCESS_KEY"), &env("FRAMASPACE_MINIO_SECRET_KEY")).expect("admin");
    foreign_bucket_is_never_taken(Store::Minio(admin), System::Minio, &endpoint, "us-east-1", 40).await;
}

#[tokio::test]
async fn garage_never_takes_a_bucket_it_did_not_create() {
    let endpoint = env("FRAMASPACE_GARAGE_S3_URL");
    let admin =
        GarageAdmin::new(&env("FRAMASPACE_GARAGE_ADMIN_URL"), &env("FRAMASPACE_GARAGE_ADMIN_TOKEN"), &endpoint, "garage").expect("admin");
    foreign_bucket_is_never_taken(Store::Garage(admin), System::Garage, &endpoint, "garage", 64).await;
}

/// A bucket the operator made before it marked its buckets (or an ensure cut between creating
/// and marking) is recognised by the space's own key holding it, and marked.
#[tokio::test]
async fn a_bucket_made_before_the_marker_is_marked_not_refused() {
    let endpoint = env("FRAMASPACE_MINIO_URL");
    let admin =
        MinioAdmin::new(&endpoint, "us-east-1", &env("FRAMASPACE_MINIO_ACCESS_KEY"), &env("FRAMASPACE_MINIO_SECRET_KEY")).expect("admin");
    let name = unique("space-older-");
    let (key, secret) = (random_hex(20), random_hex(40));
    let b = Bucket { bucket: &name, access_key: &key, secret_key: &secret, quota_bytes: 1 << 20, writable: true };
    admin.ensure(&b).await.expect("provisioned");
    assert_eq!(admin.ownership(&b).await.expect("read"), Ownership::Marked);
    assert_eq!(status_of(&minio_root(), Method::DELETE, &format!("/{name}"), &[("tagging", "")], Vec::new()).await, 204, "unmarked");
    assert_eq!(admin.ownership(&b).await.expect("read"), Ownership::Held);
    assert!(admin.ensure(&b).await.expect("ensure").0 > 0, "the mark is written back");
    assert_eq!(admin.ownership(&b).await.expect("read"), Ownership::Marked);
    admin.delete(&b).await.expect("clean");
    assert!(!admin.bucket_exists(&name).await.expect("read"));

    let endpoint = env("FRAMASPACE_GARAGE_S3_URL");
    let garage =
        GarageAdmin::new(&env("FRAMASPACE_GARAGE_ADMIN_URL"), &env("FRAMASPACE_GARAGE_ADMIN_TOKEN"), &endpoint, "garage").expect("admin");
    let name = unique("space-older-");
    let (key, secret) = (format!("GK{}", random_hex(24)), random_hex(64));
    let b = Bucket { bucket: &name, access_key: &key, secret_key: &secret, quota_bytes: 1 << 20, writable: true };
    garage.ensure(&b).await.expect("provisioned");
    let info = garage_bucket_info(&name).await;
    let marker = framaspace_operator::provision::garage::marker_key_id();
    garage_admin("RemoveBucketAlias", serde_json::json!({ "bucketId": info["id"], "localAlias": name, "accessKeyId": marker })).await;
    assert_eq!(garage.ownership(&b).await.expect("read"), Ownership::Held);
    assert!(garage.ensure(&b).await.expect("ensure").0 > 0, "the mark is written back");
    assert_eq!(garage.ownership(&b).await.expect("read"), Ownership::Marked);
    garage.delete(&b).await.expect("clean");
}

/// Hostile pass 2, F4: MinIO checks a PUT against its scanner's figure, so parallel uploads pass
/// its hard quota. The operator's measure counts the bucket, and an over-quota space keeps
/// reading and deleting but writes nothing until it is back under.
#[tokio::test]
async fn minio_parallel_uploads_over_the_quota_end_with_writes_refused() {
    let endpoint = env("FRAMASPACE_MINIO_URL");
    let admin =
        MinioAdmin::new(&endpoint, "us-east-1", &env("FRAMASPACE_MINIO_ACCESS_KEY"), &env("FRAMASPACE_MINIO_SECRET_KEY")).expect("admin");
    let name = unique("space-greedy-");
    let (key, secret) = (random_hex(20), random_hex(40));
    let quota = 1u64 << 20;
    let mut b = Bucket { bucket: &name, access_key: &key, secret_key: &secret, quota_bytes: quota, writable: true };
    admin.ensure(&b).await.expect("provisioned");
    let clients: Vec<_> =
        (0..10).map(|_| SignedClient::new(&endpoint, "us-east-1", &key, &secret, System::Minio).expect("client")).collect();
    let paths: Vec<String> = (0..10).map(|i| format!("/{name}/blob-{i}")).collect();
    let puts = clients.iter().zip(&paths).map(|(c, path)| status_of(c, Method::PUT, path, &[], vec![b'z'; 450 << 10]));
    let accepted = futures::future::join_all(puts).await.into_iter().filter(|s| *s == 200).count();
    let usage = admin.measure(&b).await.expect("measure");
    eprintln!("figure: MinIO accepted {accepted} of 10 parallel 450 KiB uploads into a 1 MiB bucket: {} bytes held", usage.bytes);
    assert_eq!(usage.objects, accepted as u64, "the measure counts every object");
    assert_eq!(usage.bytes, accepted as u64 * (450 << 10), "and every byte");
    assert!(usage.over(quota), "MinIO's own quota let the bucket pass its quota ({} bytes): the case the measure is for", usage.bytes);

    b.writable = false;
    assert!(admin.ensure(&b).await.expect("writes refused").0 > 0);
    let own = &clients[0];
    assert_eq!(status_of(own, Method::PUT, &format!("/{name}/one-more"), &[], b"x".to_vec()).await, 403, "an upload is refused");
    let init = status_of(own, Method::POST, &format!("/{name}/big"), &[("uploads", "")], Vec::new()).await;
    assert_eq!(init, 403, "so is a multipart upload");
    assert_eq!(status_of(own, Method::GET, &format!("/{name}/blob-0"), &[], Vec::new()).await, 200, "reads go on");
    for i in 0..10 {
        status_of(own, Method::DELETE, &format!("/{name}/blob-{i}"), &[], Vec::new()).await;
    }
    let usage = admin.measure(&b).await.expect("measure");
    assert_eq!((usage.bytes, usage.objects), (0, 0), "deleting files is allowed and frees the room");
    b.writable = true;
    admin.ensure(&b).await.expect("writes back");
    assert_eq!(status_of(own, Method::PUT, &format!("/{name}/again"), &[], b"x".to_vec()).await, 200, "writes are back under the quota");
    admin.delete(&b).await.expect("clean");
}

/// Starts a multipart upload and sends `parts` parts of `size` bytes; the upload is left open.
async fn unfinished_upload(c: &SignedClient, bucket: &str, key: &str, parts: u32, size: usize) -> String {
    let init = c.send("test", Method::POST, &format!("/{bucket}/{key}"), &[("uploads", "")], Vec::new(), &[]).await.expect("initiate");
    assert_eq!(init.status.as_u16(), 200, "initiate: {}", String::from_utf8_lossy(&init.body));
    let body = String::from_utf8_lossy(&init.body).to_string();
    let id = body.split("<UploadId>").nth(1).and_then(|r| r.split("</UploadId>").next()).expect("an upload id").to_string();
    for n in 1..=parts {
        let n = n.to_string();
        let sent = status_of(c, Method::PUT, &format!("/{bucket}/{key}"), &[("partNumber", &n), ("uploadId", &id)], vec![b'p'; size]).await;
        assert_eq!(sent, 200, "part {n} accepted");
    }
    id
}

/// Hostile pass 2, F5: Garage's quota leaves unfinished multipart uploads out. Every bucket
/// carries a lifecycle rule that aborts them after a day, and a measure that finds the bucket
/// over its quota with them aborts them at once. MinIO's the same way.
#[tokio::test]
async fn unfinished_uploads_over_the_quota_are_aborted() {
    for system in [System::Garage, System::Minio] {
        let (store, endpoint, region, key, secret) = match system {
            System::Garage => {
                let endpoint = env("FRAMASPACE_GARAGE_S3_URL");
                let admin =
                    GarageAdmin::new(&env("FRAMASPACE_GARAGE_ADMIN_URL"), &env("FRAMASPACE_GARAGE_ADMIN_TOKEN"), &endpoint, "garage")
                        .expect("admin");
                (Store::Garage(admin), endpoint, "garage", format!("GK{}", random_hex(24)), random_hex(64))
            }
            _ => {
                let endpoint = env("FRAMASPACE_MINIO_URL");
                let admin =
                    MinioAdmin::new(&endpoint, "us-east-1", &env("FRAMASPACE_MINIO_ACCESS_KEY"), &env("FRAMASPACE_MINIO_SECRET_KEY"))
                        .expect("admin");
                (Store::Minio(admin), endpoint, "us-east-1", random_hex(20), random_hex(40))
            }
        };
        let name = unique("space-parts-");
        let quota = 1u64 << 20;
        let b = Bucket { bucket: &name, access_key: &key, secret_key: &secret, quota_bytes: quota, writable: true };
        store.ensure(&b).await.expect("provisioned");
        if system == System::Garage {
            let rules = garage_bucket_info(&name).await["lifecycleRules"].to_string();
            assert!(rules.contains("framaspace-abort-unfinished-uploads") && rules.contains("DaysAfterInitiation"), "{rules}");
        }
        let own = SignedClient::new(&endpoint, region, &key, &secret, system).expect("the space's key");
        let small = unfinished_upload(&own, &name, "small.bin", 1, 100 << 10).await;
        let usage = store.measure(&b).await.expect("measure");
        assert_eq!((usage.unfinished_bytes, usage.aborted_uploads), (100 << 10, 0), "{system:?}: an upload within the quota is left alone");
        // MinIO refuses a part above the quota by itself (its scanner's figure plus the part).
        let part = if system == System::Garage { 5 << 20 } else { 900 << 10 };
        let big = unfinished_upload(&own, &name, "hoard.bin", 6, part).await;
        if system == System::Garage {
            let held = garage_bucket_info(&name).await["unfinishedMultipartUploadBytes"].as_u64().unwrap_or(0);
            eprintln!("figure: Garage holds {held} bytes of unfinished parts in a bucket of {quota}");
            assert!(held > quota, "Garage's quota let the parts pass: the case the measure is for");
        }
        let usage = store.measure(&b).await.expect("measure");
        assert_eq!((usage.aborted_uploads, usage.unfinished_bytes), (2, 0), "{system:?}: both uploads aborted");
        for (object, id) in [("small.bin", small), ("hoard.bin", big)] {
            let listed = status_of(&own, Method::GET, &format!("/{name}/{object}"), &[("uploadId", &id)], Vec::new()).await;
            assert_eq!(listed, 404, "{system:?}: the upload is gone");
        }
        if system == System::Garage {
            assert_eq!(garage_bucket_info(&name).await["unfinishedMultipartUploadBytes"].as_u64(), Some(0), "no part is held");
        }
        store.delete(&b).await.expect("clean");
    }
}

/// Hostile pass 2, F8: a Garage admin token scoped to fewer endpoints than the operator calls
/// reaches the cluster but cannot provision: the pool check says so (its health check alone
/// passed it).
#[tokio::test]
async fn garage_a_scoped_admin_token_is_found_unable_to_provision() {
    let endpoint = env("FRAMASPACE_GARAGE_S3_URL");
    let full =
        GarageAdmin::new(&env("FRAMASPACE_GARAGE_ADMIN_URL"), &env("FRAMASPACE_GARAGE_ADMIN_TOKEN"), &endpoint, "garage").expect("admin");
    assert_eq!(full.cannot_provision().await.expect("read the scope"), None, "the daemon's admin token may do everything");
    let scope = ["GetClusterHealth", "GetClusterStatus", "GetCurrentAdminTokenInfo", "GetBucketInfo"];
    let created = garage_admin("CreateAdminToken", serde_json::json!({ "name": unique("scoped-"), "scope": scope })).await;
    let token = created["secretToken"].as_str().expect("a token").to_string();
    let scoped = GarageAdmin::new(&env("FRAMASPACE_GARAGE_ADMIN_URL"), &token, &endpoint, "garage").expect("admin");
    scoped.server_version().await.expect("the health check alone passes it");
    let why = scoped.cannot_provision().await.expect("read the scope").expect("it cannot provision");
    assert!(why.starts_with("its admin token may not call CreateBucket, UpdateBucket"), "{why}");
    let id = created["id"].as_str().expect("an id");
    garage_admin(&format!("DeleteAdminToken?id={id}"), serde_json::json!({})).await;
}

/// Adoption reads an existing instance as the admin (its database and role) and as its role (its
/// tables), and writes nothing: a role made by another system, with Nextcloud's tables, stays as
/// it was; the figures are what its rows say; a wrong password reads nothing.
#[tokio::test]
async fn adoption_reads_an_existing_instance_and_writes_nothing() {
    let pg = PgAdmin::connect(pg_target(DatabaseIsolation::Database, "unused")).await.expect("admin");
    let name = unique("nc_legacy_").replace('-', "_");
    let password = random_hex(24);
    let admin = |sql: String| async move {
        let mut c = connect_as(&env("FRAMASPACE_PG_USER"), &env("FRAMASPACE_PG_PASSWORD"), "postgres").await.expect("superuser");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut c).await.expect("admin statement");
    };
    admin(format!("CREATE ROLE {name} LOGIN PASSWORD '{password}'")).await;
    admin(format!("CREATE DATABASE {name} OWNER {name}")).await;
    let mut own = connect_as(&name, &password, &name).await.expect("the instance's role");
    let schema = "CREATE TABLE oc_appconfig (appid varchar(32), configkey varchar(64), configvalue text, PRIMARY KEY (appid, configkey));
        CREATE TABLE oc_storages (numeric_id bigserial PRIMARY KEY, id varchar(64) UNIQUE);
        CREATE TABLE oc_filecache (fileid bigserial PRIMARY KEY, storage bigint, path varchar(4000), path_hash varchar(32));
        CREATE UNIQUE INDEX fs_storage_path_hash ON oc_filecache (storage, path_hash);
        CREATE TABLE oc_users (uid varchar(64) PRIMARY KEY);
        CREATE TABLE oc_preferences (userid varchar(64), appid varchar(32), configkey varchar(64), configvalue text, PRIMARY KEY (userid, appid, configkey));
        CREATE TABLE oc_authtoken (id bigserial PRIMARY KEY, uid varchar(64), last_activity integer);
        INSERT INTO oc_appconfig VALUES ('core', 'installedat', '1735689600'), ('files', 'enabled', 'yes'), ('dav', 'enabled', 'yes'), ('photos', 'enabled', 'no');
        INSERT INTO oc_storages (numeric_id, id) VALUES (1, 'object::store:amazon::legacy-bucket'), (2, 'object::user:alice');
        INSERT INTO oc_filecache (storage, path, path_hash) VALUES (1, '', md5('')), (1, 'appdata_oclegacy001', md5('appdata_oclegacy001'));
        INSERT INTO oc_users VALUES ('alice'), ('bob');
        INSERT INTO oc_preferences VALUES ('alice', 'login', 'lastLogin', '1764900000'), ('bob', 'login', 'lastLogin', 'garbage'), ('bob', 'core', 'lang', 'fr');
        INSERT INTO oc_authtoken (uid, last_activity) VALUES ('alice', 1764960000), ('bob', 1764000000);";
    sqlx::raw_sql(schema).execute(&mut own).await.expect("Nextcloud's tables");
    let digest = "SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM (SELECT * FROM oc_appconfig UNION ALL SELECT appid, configkey, configvalue FROM oc_preferences) t";
    let before: String = sqlx::query_scalar(digest).fetch_one(&mut own).await.expect("digest");

    let names = TenantNames::adopted("legacy", &name, &name);
    let facts = pg.database_facts(&name, &name).await.expect("admin reads");
    assert_eq!((facts.owner.as_deref(), facts.role_exists), (Some(name.as_str()), true));
    let missing = pg.database_facts("nc_no_such_db", "nc_no_such_role").await.expect("admin reads");
    assert_eq!((missing.owner, missing.role_exists), (None, false), "a manifest that points at nothing");
    let found = pg.instance_facts(&names, &password, "legacy-bucket", "oclegacy001").await.expect("reads").expect("logs in");
    assert!(found.installed);
    assert_eq!(found.object_stores, ["object::store:amazon::legacy-bucket"]);
    assert!(found.appdata_found, "appdata_<instanceid> in the bucket's storage");
    assert_eq!(found.enabled_apps, ["dav", "files"], "'no' is not enabled");
    assert_eq!(found.accounts, 2);
    let wrong_id = pg.instance_facts(&names, &password, "legacy-bucket", "ocother0001").await.expect("reads").expect("logs in");
    assert!(!wrong_id.appdata_found, "another instanceid has no appdata there");
    let wrong_bucket = pg.instance_facts(&names, &password, "other-bucket", "oclegacy001").await.expect("reads").expect("logs in");
    assert!(!wrong_bucket.appdata_found);
    assert_eq!(pg.instance_facts(&names, "not-the-password", "legacy-bucket", "oclegacy001").await.expect("no error"), None);
    let accounts = pg.account_facts(&names, &password).await.expect("accounts");
    assert_eq!(accounts.accounts, 2);
    assert_eq!(accounts.last_login, Some(1764900000), "a value that is not a timestamp is skipped");
    assert_eq!(accounts.last_activity, Some(1764960000));
    let after: String = sqlx::query_scalar(digest).fetch_one(&mut own).await.expect("digest");
    assert_eq!(before, after, "nothing was written");
    let plan: String = sqlx::query_scalar(
        "EXPLAIN (COSTS OFF) SELECT max(configvalue) FROM oc_preferences WHERE appid = 'login' AND configkey = 'lastLogin'",
    )
    .fetch_one(&mut own)
    .await
    .expect("plan");
    eprintln!("figure: the last-login read's plan on a small table: {plan}");
    drop(own);
    admin(format!("DROP DATABASE {name}")).await;
    admin(format!("DROP ROLE {name}")).await;
}

/// A MinIO bucket another system made, with its own user holding it (here one the operator made,
/// unmarked afterwards): the look at it reads its figures and that the key reads it, writes nothing.
#[tokio::test]
async fn adoption_inspects_a_minio_bucket_without_writing() {
    let endpoint = env("FRAMASPACE_MINIO_URL");
    let admin =
        MinioAdmin::new(&endpoint, "us-east-1", &env("FRAMASPACE_MINIO_ACCESS_KEY"), &env("FRAMASPACE_MINIO_SECRET_KEY")).expect("admin");
    let name = unique("nc-legacy-");
    let (key, secret) = (random_hex(20), random_hex(40));
    let b = Bucket { bucket: &name, access_key: &key, secret_key: &secret, quota_bytes: 1 << 20, writable: true };
    admin.ensure(&b).await.expect("their bucket and user");
    let own = SignedClient::new(&endpoint, "us-east-1", &key, &secret, System::Minio).expect("their key");
    for (i, size) in [(5, 1200usize), (8, 3400)] {
        assert_eq!(status_of(&own, Method::PUT, &format!("/{name}/urn:oid:{i}"), &[], vec![b'n'; size]).await, 200);
    }
    assert_eq!(status_of(&minio_root(), Method::DELETE, &format!("/{name}"), &[("tagging", "")], Vec::new()).await, 204, "not marked");
    let facts = admin.inspect(&b).await.expect("inspect");
    assert_eq!(
        facts,
        framaspace_operator::provision::BucketFacts { exists: true, bytes: 4600, objects: 2, key_reads: true, marked: false }
    );
    assert!(minio_root().bucket_tags(&name).await.expect("tags").is_empty(), "inspecting wrote no mark");
    let stranger = Bucket { access_key: "GK0000000000000000000000", secret_key: &secret, ..b };
    assert!(!admin.inspect(&stranger).await.expect("inspect").key_reads, "a key that is not theirs does not read it");
    let none = Bucket { bucket: "nc-legacy-nothing-here", ..b };
    assert_eq!(admin.inspect(&none).await.expect("inspect"), framaspace_operator::provision::BucketFacts::default());
    admin.ensure(&b).await.expect("its user holds it: marked again");
    admin.delete(&b).await.expect("clean");
}
