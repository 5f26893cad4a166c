//! A driver error as a person should read it. sqlx appends to every
//! PostgreSQL error the line of the server's C source that raised it
//! ("... at line 544", read as a line of pg_hba.conf), and to its own
//! protocol errors the Rust module and line ("(sqlx_mysql::protocol::auth:36)").
//! Neither helps whoever reads the message; both are removed here, and
//! nothing else of the text is changed.

use sea_orm::DbErr;
use sea_orm::sqlx;

/// The text of `error` without the driver's source locations, for the
/// kinds of error the seeder's driver raises: SeaORM's [`DbErr`] and
/// `RuntimeErr`, sqlx's `Error`, and PostgreSQL's database error. `None` for any other error
/// (print its own text).
pub fn driver_message(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(e) = error.downcast_ref::<DbErr>() {
        let text = e.to_string();
        return Some(match crate::retry::sqlx_error(e) {
            Some(inner) => text.replace(&inner.to_string(), &sqlx_text(inner)),
            None => text,
        });
    }
    if let Some(e) = error.downcast_ref::<sea_orm::RuntimeErr>() {
        return Some(match e {
            sea_orm::RuntimeErr::SqlxError(inner) => {
                e.to_string().replace(&inner.to_string(), &sqlx_text(inner))
            }
            _ => e.to_string(),
        });
    }
    if let Some(e) = error.downcast_ref::<sqlx::Error>() {
        return Some(sqlx_text(e));
    }
    error
        .downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .map(|e| e.message().to_owned())
}

fn sqlx_text(error: &sqlx::Error) -> String {
    let text = error.to_string();
    match error {
        sqlx::Error::Database(db) => match db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        {
            Some(pg) => text.replace(&pg.to_string(), pg.message()),
            None => text,
        },
        sqlx::Error::Protocol(_) => without_source_location(&text),
        _ => text,
    }
}

/// `text` without a trailing ` (sqlx_crate::module::path:LINE)`.
fn without_source_location(text: &str) -> String {
    let Some(open) = text.rfind(" (sqlx_") else {
        return text.to_owned();
    };
    let inner = &text[open + 2..];
    let Some(inner) = inner.strip_suffix(')') else {
        return text.to_owned();
    };
    let location = inner.rsplit_once(':').is_some_and(|(path, line)| {
        !line.is_empty()
            && line.bytes().all(|b| b.is_ascii_digit())
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
    });
    if location {
        text[..open].to_owned()
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_errors_lose_the_rust_location_only() {
        let e = sqlx::Error::Protocol(
            "unknown authentication plugin: client_ed25519 (sqlx_mysql::protocol::auth:36)"
                .to_owned(),
        );
        assert_eq!(
            driver_message(&e).as_deref(),
            Some(
                "encountered unexpected or invalid data: unknown authentication plugin: client_ed25519"
            )
        );
        let e = sqlx::Error::Protocol("a note (in brackets)".to_owned());
        assert_eq!(
            driver_message(&e).as_deref(),
            Some("encountered unexpected or invalid data: a note (in brackets)")
        );
    }

    #[test]
    fn other_errors_are_left_to_their_own_text() {
        let e = std::io::Error::other("x");
        assert_eq!(driver_message(&e), None);
    }
}
