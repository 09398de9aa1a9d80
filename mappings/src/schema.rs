//! The platform's target schema as the mapping checker sees it. Mirrors
//! `sql/`; a test against an applied database keeps the two from drifting.

use migrate_engine::TargetType;

#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub name: &'static str,
    /// Whether a mapping may load it as an entity.
    pub mappable: bool,
    pub columns: &'static [ColumnDef],
}

#[derive(Debug, Clone, Copy)]
pub struct ColumnDef {
    pub name: &'static str,
    pub ty: TargetType,
    pub max_chars: Option<usize>,
    pub not_null: bool,
    /// The SQL default, in text input form (`now` is PostgreSQL's input
    /// for the current time, which is what `DEFAULT now()` gives).
    pub default: Option<&'static str>,
    /// The values a CHECK (col IN (...)) allows.
    pub allowed: Option<&'static [&'static str]>,
    /// Set by the platform, never by a mapping (id, org_id).
    pub managed: bool,
    /// Another entity this column points at (filled through the key map).
    pub references: Option<&'static str>,
}

const fn col(name: &'static str, ty: TargetType) -> ColumnDef {
    ColumnDef {
        name,
        ty,
        max_chars: None,
        not_null: false,
        default: None,
        allowed: None,
        managed: false,
        references: None,
    }
}

const fn text(name: &'static str, max: usize) -> ColumnDef {
    ColumnDef { max_chars: Some(max), ..col(name, TargetType::Text) }
}

const fn required(c: ColumnDef) -> ColumnDef {
    ColumnDef { not_null: true, ..c }
}

const fn with_default(c: ColumnDef, default: &'static str) -> ColumnDef {
    ColumnDef { not_null: true, default: Some(default), ..c }
}

const fn one_of(c: ColumnDef, allowed: &'static [&'static str]) -> ColumnDef {
    ColumnDef { allowed: Some(allowed), ..c }
}

const fn link(name: &'static str, to: &'static str) -> ColumnDef {
    ColumnDef { references: Some(to), ..col(name, TargetType::Uuid) }
}

const ID: ColumnDef = ColumnDef { managed: true, not_null: true, ..col("id", TargetType::Uuid) };
const ORG_ID: ColumnDef = ColumnDef { managed: true, not_null: true, ..col("org_id", TargetType::Uuid) };
const CREATED_AT: ColumnDef = with_default(col("created_at", TargetType::Timestamp), "now");
const CUSTOM_FIELDS: ColumnDef = with_default(col("custom_fields", TargetType::Json), "{}");

pub const CONTACT_TYPES: &[&str] = &["contact", "client", "lead", "vendor", "partner"];
pub const CONTACT_STATUSES: &[&str] = &["active", "inactive", "archived"];
pub const TASK_STATUSES: &[&str] = &["open", "in_progress", "done", "cancelled"];
pub const TASK_PRIORITIES: &[&str] = &["low", "normal", "high", "urgent"];
const LINKABLE: &[&str] = &["contacts", "tasks", "documents"];

pub const PLATFORM: &[Table] = &[
    Table {
        name: "contacts",
        mappable: true,
        columns: &[
            ID,
            ORG_ID,
            one_of(with_default(col("type", TargetType::Text), "contact"), CONTACT_TYPES),
            one_of(with_default(col("status", TargetType::Text), "active"), CONTACT_STATUSES),
            text("first_name", 100),
            text("last_name", 100),
            text("email", 254),
            text("phone", 32),
            text("company", 200),
            CUSTOM_FIELDS,
            text("pipeline_stage", 50),
            CREATED_AT,
        ],
    },
    Table { name: "task_boards", mappable: true, columns: &[ID, ORG_ID, required(text("name", 200)), CREATED_AT] },
    Table {
        name: "task_columns",
        mappable: true,
        columns: &[
            ID,
            ORG_ID,
            required(link("board_id", "task_boards")),
            required(text("name", 100)),
            with_default(col("position", TargetType::Integer), "0"),
        ],
    },
    Table {
        name: "tasks",
        mappable: true,
        columns: &[
            ID,
            ORG_ID,
            link("board_id", "task_boards"),
            link("column_id", "task_columns"),
            link("contact_id", "contacts"),
            required(text("title", 500)),
            col("description", TargetType::Text),
            one_of(with_default(col("status", TargetType::Text), "open"), TASK_STATUSES),
            one_of(with_default(col("priority", TargetType::Text), "normal"), TASK_PRIORITIES),
            col("due_date", TargetType::Date),
            text("assignee_email", 254),
            CUSTOM_FIELDS,
            CREATED_AT,
            col("completed_at", TargetType::Timestamp),
        ],
    },
    Table {
        name: "documents",
        mappable: true,
        columns: &[
            ID,
            ORG_ID,
            link("contact_id", "contacts"),
            required(text("title", 500)),
            text("file_name", 255),
            text("mime_type", 255),
            col("size_bytes", TargetType::BigInt),
            col("storage_key", TargetType::Text),
            CUSTOM_FIELDS,
            CREATED_AT,
        ],
    },
    Table {
        name: "document_revisions",
        mappable: true,
        columns: &[
            ID,
            ORG_ID,
            required(link("document_id", "documents")),
            required(col("revision", TargetType::Integer)),
            col("storage_key", TargetType::Text),
            CREATED_AT,
        ],
    },
    Table {
        name: "entity_links",
        mappable: false,
        columns: &[
            ID,
            ORG_ID,
            one_of(required(col("from_entity", TargetType::Text)), LINKABLE),
            required(col("from_id", TargetType::Uuid)),
            one_of(required(col("to_entity", TargetType::Text)), LINKABLE),
            required(col("to_id", TargetType::Uuid)),
            with_default(text("relation", 50), "related"),
            CREATED_AT,
        ],
    },
];

pub fn table(name: &str) -> Option<&'static Table> {
    PLATFORM.iter().find(|t| t.name == name)
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&'static ColumnDef> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Columns a mapping may write.
    pub fn mappable_columns(&self) -> impl Iterator<Item = &'static ColumnDef> {
        self.columns.iter().filter(|c| !c.managed)
    }
}

#[cfg(test)]
mod tests {
    use super::PLATFORM;

    /// The README's list of what each entity can be given, written from the
    /// schema model: a column added here must be added there.
    fn columns_section() -> String {
        let mut out = String::new();
        for table in PLATFORM.iter().filter(|t| t.mappable) {
            out.push_str(&format!("\n**`{}`**\n\n| column | type | rule |\n| --- | --- | --- |\n", table.name));
            for c in table.mappable_columns() {
                let ty = match c.max_chars {
                    Some(n) => format!("text ≤ {n}"),
                    None => c.ty.sql_name().to_string(),
                };
                let mut rule = Vec::new();
                match (c.not_null, c.default) {
                    (true, None) => rule.push("required".to_string()),
                    (_, Some("now")) => rule.push("default: the load time".to_string()),
                    (_, Some(d)) => rule.push(format!("default `{d}`")),
                    (false, None) => {}
                }
                if let Some(allowed) = c.allowed {
                    let list: Vec<String> = allowed.iter().map(|a| format!("`{a}`")).collect();
                    rule.push(format!("one of {}", list.join(", ")));
                }
                if let Some(to) = c.references {
                    rule.push(format!("a link to `{to}`"));
                }
                if c.ty == migrate_engine::TargetType::Json {
                    rule.push("JSON object: map keys as `custom_fields.NAME`".to_string());
                }
                out.push_str(&format!("| `{}` | {ty} | {} |\n", c.name, rule.join("; ")));
            }
        }
        out
    }

    #[test]
    fn the_readme_lists_every_entity_column_with_its_type_and_allowed_values() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap_or_default();
        let expected = columns_section();
        assert!(readme.contains(&expected), "README.md should contain, under \"The platform's tables\":\n{expected}");
    }
}
