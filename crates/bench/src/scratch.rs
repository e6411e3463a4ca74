//! Fresh databases for one measurement: a new PostgreSQL database or SQLite file, and
//! their removal.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use serde_json::json;

use crate::Args;
use crate::server::{ADMIN_KEY, CREATE, Server};

/// A fresh database for one measurement: a new PostgreSQL database or SQLite file,
/// removed by [`Scratch::remove`].
pub struct Scratch {
    /// The database URL the server is started with.
    pub url: String,
    /// The PostgreSQL database, on that backend.
    pub pg: Option<PgDatabase>,
    /// The SQLite file, on that backend.
    pub sqlite: Option<PathBuf>,
}

impl Scratch {
    /// A fresh database of `backend`, named after `tag`.
    pub async fn new(args: &Args, backend: &str, tag: &str) -> anyhow::Result<Self> {
        match backend {
            "sqlite" => {
                let path =
                    std::env::temp_dir().join(format!("coupons-{tag}-{}.db", std::process::id()));
                Ok(Self {
                    url: format!("sqlite://{}", path.display()),
                    pg: None,
                    sqlite: Some(path),
                })
            }
            "postgres" => {
                let db = PgDatabase::create(&args.pg_url).await?;
                Ok(Self {
                    url: db.url.clone(),
                    pg: Some(db),
                    sqlite: None,
                })
            }
            other => bail!("unknown backend {other:?}"),
        }
    }

    /// Starts the server on it and creates one coupon with `code`; returns its ID.
    pub async fn serve_with_coupon(
        &self,
        args: &Args,
        code: &str,
    ) -> anyhow::Result<(Server, String)> {
        let server = Server::start(&args.server, &self.url, 8).await?;
        let made = server
            .graphql(
                ADMIN_KEY,
                CREATE,
                json!({ "input": { "name": code, "code": code, "discount": { "percentage": "10" } } }),
            )
            .await?;
        let coupon = made["data"]["createCoupon"]["coupon"]["id"]
            .as_str()
            .context("no coupon")?
            .to_owned();
        Ok((server, coupon))
    }

    /// Removes the database.
    pub async fn remove(self) -> anyhow::Result<()> {
        if let Some(db) = self.pg {
            db.drop().await?;
        }
        if let Some(path) = self.sqlite {
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }
        Ok(())
    }
}

/// A PostgreSQL database made for one measurement, dropped by [`PgDatabase::drop`].
pub struct PgDatabase {
    admin_url: String,
    name: String,
    /// Its URL.
    pub url: String,
}

impl PgDatabase {
    /// Creates a database next to the one `admin_url` names.
    pub async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("coupons_bench_{}", std::process::id());
        let mut conn = AsyncPgConnection::establish(admin_url).await?;
        conn.batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
        let (base, _) = admin_url
            .rsplit_once('/')
            .context("database URL without a database name")?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            url: format!("{base}/{name}"),
            name,
        })
    }

    /// Drops the database, disconnecting whoever is still connected.
    pub async fn drop(self) -> anyhow::Result<()> {
        let mut conn = AsyncPgConnection::establish(&self.admin_url).await?;
        conn.batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .await?;
        Ok(())
    }
}
