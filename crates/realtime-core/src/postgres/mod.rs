//! PostgreSQL for `svelte-realtime/postgres`: a lazily connected query client (`PgHandle`)
//! and the NOTIFY listener (`notify`) that publishes into the server's hub.
//!
//! Queries send every parameter in text format, as node-postgres does, so Postgres parses
//! it for whatever type the statement needs; results are decoded from the binary format
//! into JSON by column type (`values`).

pub mod notify;
pub mod values;

use std::sync::Arc;

use parking_lot::Mutex;
use thiserror::Error;
use tokio_postgres::types::{Format, IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, NoTls};

#[derive(Debug, Error)]
pub enum PgError {
    #[error("{}", describe(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("{0}")]
    Value(#[from] values::ValueError),
}

/// `[SQLSTATE] message` for a server's error (the JavaScript side turns the code into
/// `error.code`, as node-postgres has it), the driver's own text for the rest.
fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("[{}] {}", db.code().code(), db.message()),
        None => {
            let mut text = error.to_string();
            if let Some(source) = std::error::Error::source(error) {
                text = format!("{text}: {source}");
            }
            text
        }
    }
}

/// One query parameter: its text (Postgres parses it for the parameter's type), or NULL.
#[derive(Debug)]
pub struct TextParam(pub Option<String>);

impl ToSql for TextParam {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            Some(text) => {
                out.extend_from_slice(text.as_bytes());
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}

/// "cannot insert multiple commands into a prepared statement" (SQLSTATE 42601).
fn is_multi_statement(error: &tokio_postgres::Error) -> bool {
    error.code() == Some(&tokio_postgres::error::SqlState::SYNTAX_ERROR)
        && error
            .as_db_error()
            .is_some_and(|db| db.message().contains("multiple commands"))
}

/// A column of a result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    /// The type's OID (`dataTypeID` in node-postgres).
    pub type_oid: u32,
}

/// What a query returned.
#[derive(Debug)]
pub struct QueryResult {
    pub fields: Vec<Field>,
    /// One JSON array per row, in field order.
    pub rows: Vec<Vec<serde_json::Value>>,
    /// Rows returned, or affected for INSERT/UPDATE/DELETE.
    pub row_count: u64,
}

/// A connection string and, once used, its connection (reopened after a loss).
pub struct PgHandle {
    config: tokio_postgres::Config,
    client: Mutex<Option<Arc<Client>>>,
}

impl PgHandle {
    /// Parses `connection_string` (URL or key=value); does not connect.
    pub fn open(connection_string: &str) -> Result<Self, tokio_postgres::Error> {
        Ok(Self {
            config: connection_string.parse()?,
            client: Mutex::new(None),
        })
    }

    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    async fn client(&self) -> Result<Arc<Client>, tokio_postgres::Error> {
        if let Some(client) = self.client.lock().as_ref()
            && !client.is_closed()
        {
            return Ok(Arc::clone(client));
        }
        let (client, connection) = self.config.connect(NoTls).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let client = Arc::new(client);
        *self.client.lock() = Some(Arc::clone(&client));
        Ok(client)
    }

    /// Closes the connection (the next query opens a new one). Queries in flight finish.
    pub fn close(&self) {
        self.client.lock().take();
    }

    /// Runs one statement with text parameters.
    pub async fn query(&self, sql: &str, params: &[TextParam]) -> Result<QueryResult, PgError> {
        let client = self.client().await?;
        let statement = match client.prepare(sql).await {
            Ok(statement) => statement,
            // Several statements in one text (a migration, a trigger and its function):
            // allowed without parameters, as the simple query protocol allows them.
            Err(error) if params.is_empty() && is_multi_statement(&error) => {
                client.batch_execute(sql).await?;
                return Ok(QueryResult {
                    fields: Vec::new(),
                    rows: Vec::new(),
                    row_count: 0,
                });
            }
            Err(error) => return Err(error.into()),
        };
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        let fields: Vec<Field> = statement
            .columns()
            .iter()
            .map(|c| Field {
                name: c.name().to_string(),
                type_oid: c.type_().oid(),
            })
            .collect();
        if fields.is_empty() {
            let affected = client.execute(&statement, &refs).await?;
            return Ok(QueryResult {
                fields,
                rows: Vec::new(),
                row_count: affected,
            });
        }
        let rows = client.query(&statement, &refs).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut values = Vec::with_capacity(fields.len());
            for (index, column) in row.columns().iter().enumerate() {
                let raw: Option<values::Raw<'_>> = row.try_get(index)?;
                values.push(match raw {
                    Some(raw) => values::to_json(column.type_(), raw.0)?,
                    None => serde_json::Value::Null,
                });
            }
            out.push(values);
        }
        Ok(QueryResult {
            fields,
            row_count: out.len() as u64,
            rows: out,
        })
    }
}
