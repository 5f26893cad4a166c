//! Portable read-only SQL: written with `?` placeholders, numbered for
//! PostgreSQL. Values are always bound, never spliced into the text.

use sea_orm::{ConnectionTrait, DbErr, QueryResult, Statement, Value};

pub struct Query {
    sql: String,
    values: Vec<Value>,
}

impl Query {
    pub fn new(sql: &str) -> Query {
        Query {
            sql: sql.to_owned(),
            values: Vec::new(),
        }
    }

    /// Replaces `{tenants:alias}` with a tenant filter on `alias.tenant_id`
    /// (or with `1 = 1` when every tenant is checked).
    pub fn tenants(mut self, alias: &str, tenants: Option<&[String]>) -> Query {
        let marker = format!("{{tenants:{alias}}}");
        let clause = match tenants {
            None => "1 = 1".to_owned(),
            Some([]) => "1 = 0".to_owned(),
            Some(ids) => {
                self.values
                    .extend(ids.iter().map(|id| Value::from(id.clone())));
                format!("{alias}.tenant_id IN ({})", vec!["?"; ids.len()].join(", "))
            }
        };
        self.sql = self.sql.replacen(&marker, &clause, 1);
        self
    }

    pub async fn all<C: ConnectionTrait>(self, conn: &C) -> Result<Vec<QueryResult>, DbErr> {
        let backend = conn.get_database_backend();
        let sql = if backend == sea_orm::DbBackend::Postgres {
            let mut n = 0;
            let mut out = String::with_capacity(self.sql.len() + 8);
            for ch in self.sql.chars() {
                if ch == '?' {
                    n += 1;
                    out.push_str(&format!("${n}"));
                } else {
                    out.push(ch);
                }
            }
            out
        } else {
            self.sql
        };
        conn.query_all_raw(Statement::from_sql_and_values(backend, sql, self.values))
            .await
    }
}
