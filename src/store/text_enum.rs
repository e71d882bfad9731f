//! Closed sets of values (statuses) kept as TEXT: the enum's words are what both backends store
//! and what the CHECK constraints name, so code compares variants, never strings.

/// Declares `enum $name` with each variant's stored word, `as_str`, `FromStr`, and sqlx's
/// `Type`/`Encode`/`Decode` as that word on SQLite and PostgreSQL alike. (sqlx's derive would
/// declare a PostgreSQL type of the enum's name, which these TEXT columns are not.) A stored word
/// no variant has fails the read instead of passing for some variant.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident = $word:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$variant_meta])* $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($word => Ok($name::$variant),)+
                    _ => Err(format!("{s:?} is no {}", stringify!($name))),
                }
            }
        }

        impl<DB: sqlx::Database> sqlx::Type<DB> for $name
        where
            str: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as sqlx::Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $name
        where
            &'q str: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&'q str as sqlx::Encode<'q, DB>>::encode_by_ref(&self.as_str(), buf)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $name
        where
            &'r str: sqlx::Decode<'r, DB>,
        {
            fn decode(
                value: <DB as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                Ok(<&'r str as sqlx::Decode<'r, DB>>::decode(value)?.parse()?)
            }
        }
    };
}
pub(crate) use text_enum;

#[cfg(test)]
mod tests {
    use super::super::{connections::SessionStatus, keys::KeyStatus};
    use sqlx::{Connection, SqliteConnection};

    /// The words the CHECK constraints, the API and the CLI know.
    #[test]
    fn statuses_are_their_words() {
        let key_words: Vec<&str> = KeyStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(key_words, ["active", "deactivated"]);
        let session_words: Vec<&str> = SessionStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(session_words, ["success", "failed", "cancelled"]);
        for status in KeyStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(*status));
        }
        for status in SessionStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(*status));
        }
        assert!("Active".parse::<KeyStatus>().is_err());
        assert!("".parse::<SessionStatus>().is_err());
    }

    /// Bound and read back as TEXT; a word no variant has is an error, not some variant.
    #[tokio::test]
    async fn a_status_is_stored_as_its_word() {
        let mut db = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        let (word, status): (String, KeyStatus) = sqlx::query_as("SELECT $1, $1")
            .bind(KeyStatus::Deactivated)
            .fetch_one(&mut db)
            .await
            .unwrap();
        assert_eq!(
            (word.as_str(), status),
            ("deactivated", KeyStatus::Deactivated)
        );
        let unknown: Result<SessionStatus, _> =
            sqlx::query_scalar("SELECT 'done'").fetch_one(&mut db).await;
        assert!(unknown.is_err());
    }
}
