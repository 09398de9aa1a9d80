//! Dumps as customers send them: a `mysqldump` file (backticks, multi-row
//! VALUES, backslash escapes, `_binary` and hex literals) and a SQL Server
//! "generate scripts" file (brackets, `N'…'`, `CAST(… AS …)`, GO batches,
//! UTF-16), each with rows of other tables beside the one read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use migrate_engine::{Source, SourceLocation};
use migrate_sqldump::SqlDumpSourceConfig;

async fn read(
    config: SqlDumpSourceConfig,
) -> (Vec<String>, Vec<(u64, Vec<Option<String>>)>, Vec<String>, migrate_engine::SourceInfo) {
    let mut source = config.build(std::path::Path::new("/")).unwrap();
    let columns = source.columns().to_vec();
    let mut rows = Vec::new();
    let mut malformed = Vec::new();
    while let Some(batch) = source.next_batch().await.unwrap() {
        for m in &batch.malformed {
            malformed.push(m.message.clone());
        }
        for r in 0..batch.height() {
            let SourceLocation::Line { line, .. } = &batch.locations[r] else { panic!("a line location") };
            rows.push((*line, batch.row_values(r)));
        }
    }
    (columns, rows, malformed, source.info())
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

const MYSQL: &str = r#"-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB
/*!40101 SET NAMES utf8mb4 */;
DROP TABLE IF EXISTS `customers`;
CREATE TABLE `customers` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `name` varchar(100) DEFAULT NULL COMMENT 'the name, (with, commas)',
  `note` text DEFAULT 'a;b',
  `balance` decimal(12,2) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `by_name` (`name`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
LOCK TABLES `customers` WRITE;
INSERT INTO `customers` VALUES (1,'O\'Brien','line\none\ttab; and a \\ backslash',12.50),(2,'Zoë','it''s',-0.01),
(3,NULL,_binary 'raw',NULL),(4,'x',0x4142,1e3);
INSERT INTO `orders` VALUES (10,1,'a'),(11,2,'b');
INSERT INTO `customers` VALUES (5,'late','(nested) \'quote\'',0);
UNLOCK TABLES;
"#;

#[tokio::test]
async fn a_mysqldump_file_gives_the_table_s_rows_exactly() {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), MYSQL).unwrap();
    let (columns, rows, malformed, info) =
        read(SqlDumpSourceConfig::for_path(f.path().display().to_string(), "customers")).await;
    assert_eq!(columns, ["id", "name", "note", "balance"]);
    assert!(malformed.is_empty(), "{malformed:?}");
    assert_eq!(
        rows,
        [
            (13, vec![s("1"), s("O'Brien"), s("line\none\ttab; and a \\ backslash"), s("12.50")]),
            (13, vec![s("2"), s("Zoë"), s("it's"), s("-0.01")]),
            (14, vec![s("3"), None, s("raw"), None]),
            (14, vec![s("4"), s("x"), s("0x4142"), s("1e3")]),
            (16, vec![s("5"), s("late"), s("(nested) 'quote'"), s("0")]),
        ]
    );
    assert_eq!(info.row_count, Some(5));
    assert_eq!(info.skipped, [migrate_engine::SkippedRows { what: "rows of table orders".into(), rows: 2 }]);
}

const TSQL: &str = "USE [Legacy]\r\nGO\r\nSET IDENTITY_INSERT [dbo].[Customers] ON \r\nGO\r\n\
INSERT [dbo].[Customers] ([CustomerID], [CompanyName], [Since], [Credit]) VALUES (N'ALFKI', N'Alfreds Futterkiste', CAST(N'1996-07-04T00:00:00.000' AS DateTime), CAST(1234.50 AS Decimal(18, 2)))\r\n\
INSERT [dbo].[Customers] ([CustomerID], [CompanyName], [Since], [Credit]) VALUES (N'ANATR', N'Ana Trujillo Emparedados y helados', NULL, CAST(0.00 AS Decimal(18, 2)))\r\n\
INSERT [dbo].[Orders] ([OrderID], [CustomerID]) VALUES (10248, N'ALFKI')\r\n\
INSERT [dbo].[Customers] ([CustomerID], [CompanyName], [Since], [Credit]) VALUES (N'BACK', N'C:\\temp\\ it''s', NULL, NULL)\r\n\
GO\r\nSET IDENTITY_INSERT [dbo].[Customers] OFF\r\nGO\r\n";

#[tokio::test]
async fn a_sql_server_script_in_utf_16_gives_the_table_s_rows_exactly() {
    let f = tempfile::NamedTempFile::new().unwrap();
    // SQL Server Management Studio writes scripts as UTF-16 with a BOM.
    let mut bytes = vec![0xFF, 0xFE];
    for unit in TSQL.encode_utf16() {
        bytes.extend(unit.to_le_bytes());
    }
    std::fs::write(f.path(), bytes).unwrap();
    let (columns, rows, malformed, info) =
        read(SqlDumpSourceConfig::for_path(f.path().display().to_string(), "dbo.Customers")).await;
    assert_eq!(columns, ["CustomerID", "CompanyName", "Since", "Credit"]);
    assert!(malformed.is_empty(), "{malformed:?}");
    assert_eq!(
        rows,
        [
            (5, vec![s("ALFKI"), s("Alfreds Futterkiste"), s("1996-07-04T00:00:00.000"), s("1234.50")]),
            (6, vec![s("ANATR"), s("Ana Trujillo Emparedados y helados"), None, s("0.00")]),
            (8, vec![s("BACK"), s("C:\\temp\\ it's"), None, None]),
        ]
    );
    assert_eq!(info.skipped, [migrate_engine::SkippedRows { what: "rows of table dbo.Orders".into(), rows: 1 }]);
}

#[tokio::test]
async fn wrong_rows_are_rejected_and_a_missing_table_or_broken_dump_is_named() {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), "CREATE TABLE t (a int, b int);\nINSERT INTO t VALUES (1, 2), (3), (4, 5);\n").unwrap();
    let (_, rows, malformed, _) = read(SqlDumpSourceConfig::for_path(f.path().display().to_string(), "t")).await;
    assert_eq!(rows.len(), 3);
    assert_eq!(malformed, ["the row has 1 values, the table 2 columns"]);

    let err = SqlDumpSourceConfig::for_path(f.path().display().to_string(), "nosuch")
        .build(std::path::Path::new("/"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.ends_with("the dump has no INSERT of table nosuch (it has rows of t)"), "{err}");

    std::fs::write(f.path(), "CREATE TABLE `t` (`a` int, `b` text);\nINSERT INTO `t` VALUES (1,'never closed\n")
        .unwrap();
    let mut source =
        SqlDumpSourceConfig::for_path(f.path().display().to_string(), "t").build(std::path::Path::new("/"));
    let err = match source.as_mut() {
        Ok(s) => s.next_batch().await.err().unwrap().to_string(),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("a string is not closed before the file ends"), "{err}");

    std::fs::write(f.path(), "INSERT INTO t VALUES (1, 2);\n").unwrap();
    let err = SqlDumpSourceConfig::for_path(f.path().display().to_string(), "t")
        .build(std::path::Path::new("/"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("no INSERT of table t names its columns and the dump has no CREATE TABLE t"), "{err}");
}
