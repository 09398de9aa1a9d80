//! `migrate init SOURCE --entity ENTITY`: a complete starting mapping from a
//! file's inspection and the platform schema. Each target column gets the
//! source column whose header most likely means it (normalized names and
//! synonyms in English, German, French and Spanish), with the match score
//! and sample values in a comment; dates and amounts get the formats and
//! locale the data shows; source columns left over go to `custom_fields`.

use std::fmt::Write;
use std::path::Path;

use migrate_engine::TargetType;
use migrate_mappings::schema::{ColumnDef, table};

use crate::inspect::{ColumnProfile, Inspection};

/// Header spellings that mean a target column (normalized: lowercase
/// ASCII letters and digits only).
fn synonyms(entity: &str, column: &str) -> &'static [&'static str] {
    match (entity, column) {
        ("contacts", "first_name") => {
            &["firstname", "first", "givenname", "forename", "fname", "vorname", "prenom", "nombre", "nombres"]
        }
        ("contacts", "last_name") => &[
            "lastname",
            "last",
            "surname",
            "familyname",
            "lname",
            "nachname",
            "familienname",
            "nomdefamille",
            "apellido",
            "apellidos",
        ],
        ("contacts", "email") => &[
            "email",
            "emailaddress",
            "mail",
            "emailadresse",
            "mailadresse",
            "courriel",
            "adresseemail",
            "correo",
            "correoelectronico",
            "primaryemail",
        ],
        ("contacts", "phone") => &[
            "phone",
            "phonenumber",
            "tel",
            "telephone",
            "telefon",
            "telefonnummer",
            "telefono",
            "mobile",
            "mobil",
            "mobilephone",
            "cell",
            "cellphone",
            "handy",
            "portable",
            "movil",
            "numerodetelephone",
        ],
        ("contacts", "company") => &[
            "company",
            "companyname",
            "organisation",
            "organization",
            "org",
            "account",
            "accountname",
            "firma",
            "firmenname",
            "unternehmen",
            "societe",
            "entreprise",
            "empresa",
            "compania",
            "employer",
        ],
        ("contacts", "type") => &["type", "contacttype", "kind", "typ", "kontakttyp", "tipo", "typedecontact"],
        ("contacts", "status") => &["status", "state", "statut", "estado", "zustand"],
        ("contacts", "pipeline_stage") => &["stage", "pipelinestage", "dealstage", "phase", "etape", "etapa", "stufe"],
        ("contacts" | "tasks" | "documents", "created_at") => &[
            "created",
            "createdat",
            "createdon",
            "datecreated",
            "creationdate",
            "createddate",
            "since",
            "customersince",
            "joined",
            "joindate",
            "registered",
            "signup",
            "signedup",
            "membersince",
            "erstellt",
            "erstelltam",
            "angelegt",
            "angelegtam",
            "seit",
            "kundeseit",
            "datecreation",
            "creele",
            "fechacreacion",
            "creado",
        ],
        ("tasks", "title") => &[
            "title", "subject", "task", "taskname", "name", "betreff", "titel", "aufgabe", "titre", "tache", "asunto",
            "tarea", "titulo",
        ],
        ("tasks", "description") => &[
            "description",
            "details",
            "notes",
            "note",
            "body",
            "beschreibung",
            "notiz",
            "notizen",
            "descripcion",
            "remarque",
        ],
        ("tasks", "status") => &["status", "state", "statut", "estado"],
        ("tasks", "priority") => {
            &["priority", "prio", "prioritaet", "prioritat", "priorite", "prioridad", "importance"]
        }
        ("tasks", "due_date") => &[
            "due",
            "duedate",
            "deadline",
            "dueon",
            "faellig",
            "fallig",
            "faelligkeit",
            "falligkeit",
            "echeance",
            "dateecheance",
            "vencimiento",
            "fechalimite",
        ],
        ("tasks", "assignee_email") => &[
            "assignee",
            "assigneeemail",
            "assignedto",
            "owner",
            "owneremail",
            "zustaendig",
            "zustandig",
            "bearbeiter",
            "responsable",
            "asignado",
        ],
        ("tasks", "completed_at") => &[
            "completed",
            "completedat",
            "completedon",
            "done",
            "doneat",
            "erledigt",
            "erledigtam",
            "termine",
            "completado",
        ],
        ("documents", "title") => {
            &["title", "name", "document", "documentname", "titel", "dokument", "titre", "titulo"]
        }
        ("documents", "file_name") => {
            &["filename", "file", "dateiname", "datei", "nomfichier", "fichier", "archivo", "nombrearchivo"]
        }
        ("documents", "mime_type") => &["mimetype", "contenttype", "mime", "format", "filetype"],
        ("documents", "size_bytes") => {
            &["size", "bytes", "filesize", "sizebytes", "groesse", "grosse", "dateigroesse", "taille", "tamano"]
        }
        ("documents", "storage_key") => &["path", "storagekey", "url", "location", "pfad", "chemin", "ruta"],
        _ => &[],
    }
}

/// Headers that hold a whole name, split into first and last.
const FULL_NAME: &[&str] =
    &["name", "fullname", "contactname", "contact", "customername", "kunde", "kontakt", "nomcomplet", "nombrecompleto"];

/// Lowercase ASCII letters and digits, accents folded (`Prénom` → `prenom`).
pub fn normalize(header: &str) -> String {
    header
        .chars()
        .flat_map(char::to_lowercase)
        .filter_map(|c| {
            let folded = match c {
                'à' | 'á' | 'â' | 'ã' | 'å' => 'a',
                'ä' | 'æ' => return Some("ae".to_string()),
                'ç' => 'c',
                'è' | 'é' | 'ê' | 'ë' => 'e',
                'ì' | 'í' | 'î' | 'ï' => 'i',
                'ñ' => 'n',
                'ò' | 'ó' | 'ô' | 'õ' | 'ø' => 'o',
                'ö' | 'œ' => return Some("oe".to_string()),
                'ù' | 'ú' | 'û' => 'u',
                'ü' => return Some("ue".to_string()),
                'ß' => return Some("ss".to_string()),
                c if c.is_ascii_alphanumeric() => c,
                _ => return None,
            };
            Some(folded.to_string())
        })
        .collect()
}

/// How well a header means a target column, 0 to 1.
pub fn score(entity: &str, column: &str, header: &str) -> f64 {
    let h = normalize(header);
    if h.is_empty() {
        return 0.0;
    }
    let target = normalize(column);
    let words = synonyms(entity, column);
    if h == target || words.contains(&h.as_str()) {
        return 1.0;
    }
    // A whole name is split, never guessed to be a part of one.
    if FULL_NAME.contains(&h.as_str()) {
        return 0.0;
    }
    // "Kontakt E-Mail", "Primary phone number": a synonym inside the header.
    let inside = std::iter::once(target.as_str())
        .chain(words.iter().copied())
        .filter(|w| w.len() >= 5 && h.contains(w))
        .map(|w| 0.6 + 0.3 * (w.len() as f64 / h.len() as f64))
        .fold(0.0, f64::max);
    // Misspellings ("Emial", "Compnay"): close words of about the same length.
    let close = std::iter::once(target.as_str())
        .chain(words.iter().copied())
        .filter(|w| w.len() >= 5 && w.len().abs_diff(h.len()) <= 2)
        .map(|w| strsim::jaro_winkler(&h, w))
        .fold(0.0, f64::max);
    let close = if close >= 0.9 { close * 0.85 } else { 0.0 };
    inside.max(close)
}

/// A score below this is no match.
const THRESHOLD: f64 = 0.6;

/// The guessed type without its count of misfits (`date (mdy), 2 values do not fit`).
fn kind(profile: &ColumnProfile) -> &str {
    let t = profile.guessed_type.as_str();
    match t.find(')') {
        Some(end) => t.get(..=end).unwrap_or(t),
        None => t.split(',').next().unwrap_or(""),
    }
}

fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML key: bare when it can be.
fn toml_key(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        s.to_string()
    } else {
        toml_str(s)
    }
}

fn examples(profile: &ColumnProfile) -> String {
    let shown: Vec<String> =
        profile.examples.iter().take(3).map(|e| e.chars().take(40).collect::<String>().replace('\n', " ")).collect();
    if shown.is_empty() { "no values in the sample".into() } else { format!("e.g. {}", shown.join(" | ")) }
}

/// The date transform for what the sample shows.
fn date_rule(profile: &ColumnProfile) -> String {
    let k = kind(profile);
    if k.ends_with("(iso)") {
        "{ date = { formats = [\"iso\"] } }".into()
    } else if let Some(order) = ["mdy", "dmy", "ymd"].iter().find(|o| k.ends_with(&format!("({o})"))) {
        format!("{{ date = {{ order = \"{order}\" }} }}")
    } else if let Some((month_first, day_first)) = inconsistent(k) {
        // A few values the other way round are mistakes: they are rejected.
        let order = if month_first >= day_first { "mdy" } else { "dmy" };
        format!("{{ date = {{ order = \"{order}\" }} }}")
    } else {
        // Ambiguous in the sample: the run decides from all the rows.
        "{ date = { order = \"auto\" } }".into()
    }
}

/// `… (day order inconsistent: 167 month-first, 1 day-first)` → (167, 1).
fn inconsistent(kind: &str) -> Option<(usize, usize)> {
    let rest = kind.split_once("inconsistent: ")?.1;
    let (m, rest) = rest.split_once(" month-first, ")?;
    let d = rest.split_once(" day-first")?.0;
    Some((m.parse().ok()?, d.parse().ok()?))
}

fn money_rule(profile: &ColumnProfile) -> String {
    let locale = kind(profile).strip_prefix("money (").and_then(|l| l.strip_suffix(')')).unwrap_or("auto");
    let all = profile.examples.join(" ");
    let currency = if all.contains('€') || all.contains("EUR") {
        Some("EUR")
    } else if all.contains('£') || all.contains("GBP") {
        Some("GBP")
    } else if all.contains('$') || all.contains("USD") {
        Some("USD")
    } else if all.contains("CHF") {
        Some("CHF")
    } else {
        None
    };
    match currency {
        Some(c) => format!("{{ money = {{ locale = \"{locale}\", currency = \"{c}\" }} }}"),
        None => format!("{{ money = {{ locale = \"{locale}\" }} }}"),
    }
}

/// The rule for a target column fed by `profile`.
fn rule(def: &ColumnDef, profile: &ColumnProfile) -> String {
    let from = toml_str(&profile.name);
    let k = kind(profile);
    let transforms: Vec<String> = match def.ty {
        TargetType::Date | TargetType::Timestamp if k.starts_with("date") || k.starts_with("timestamp") => {
            vec![date_rule(profile)]
        }
        TargetType::Date | TargetType::Timestamp => vec!["{ date = { order = \"auto\" } }".into()],
        _ if def.name == "email" || def.name.ends_with("_email") => vec!["\"trim\"".into(), "\"email\"".into()],
        _ if def.allowed.is_some() => vec!["\"trim\"".into(), "\"lowercase\"".into()],
        TargetType::Text => vec!["\"trim\"".into()],
        _ => vec!["\"trim\"".into()],
    };
    format!("{{ from = {from}, transform = [{}] }}", transforms.join(", "))
}

/// A snake_case key for `custom_fields`: `CustomerID` → `customer_id`,
/// `Kunde seit` → `kunde_seit`, `VATNumber` → `vat_number`.
pub fn snake(header: &str) -> String {
    let chars: Vec<char> = header.chars().collect();
    let mut out = String::new();
    for (i, c) in chars.iter().enumerate() {
        let folded = normalize(&c.to_string());
        if folded.is_empty() {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            continue;
        }
        let prev = i.checked_sub(1).and_then(|p| chars.get(p));
        let next = chars.get(i + 1);
        let boundary = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase() || p.is_ascii_digit() || (p.is_uppercase() && next.is_some_and(|n| n.is_lowercase()))
            });
        if boundary && !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
        out.push_str(&folded);
    }
    let out = out.trim_end_matches('_').to_string();
    if out.is_empty() { "field".into() } else { out }
}

/// What `init` decided, for tests and the terminal.
#[derive(Debug, Clone)]
pub struct Proposal {
    pub mapping: String,
    /// (target column, source header, score)
    pub matches: Vec<(String, String, f64)>,
    pub key: Option<String>,
    /// Enumerated columns whose sampled values are not all allowed ones:
    /// (target column, source header, the values no allowed one matched).
    /// Kept in `custom_fields` instead, with a `map` skeleton to fill in.
    pub unmatched_values: Vec<(String, String, Vec<String>)>,
}

/// Well-known spellings of an allowed value, besides its own (case and
/// separators aside): only words that mean that value, never a guess
/// between two meanings (`warm` is no contact status).
fn value_synonyms(allowed: &str) -> &'static [&'static str] {
    match allowed {
        "done" => &["closed", "completed", "complete", "finished", "resolved"],
        "cancelled" => &["canceled", "aborted"],
        "in_progress" => &["inprogress", "started", "ongoing", "wip", "doing"],
        "open" => &["new", "todo", "to_do", "not_started"],
        "normal" => &["medium", "med"],
        "urgent" => &["critical"],
        "active" => &["enabled"],
        "inactive" => &["disabled"],
        "client" => &["customer"],
        "vendor" => &["supplier"],
        "lead" => &["prospect"],
        _ => &[],
    }
}

/// A value compared with allowed ones: trimmed, lowercase, and runs of
/// spaces, hyphens, underscores and slashes as one `_` (`In Progress` →
/// `in_progress`).
fn vocabulary_key(value: &str) -> String {
    let mut out = String::new();
    for c in value.trim().chars() {
        if c.is_whitespace() || matches!(c, '-' | '_' | '/') {
            if !out.ends_with('_') {
                out.push('_');
            }
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out.trim_matches('_').to_string()
}

/// The allowed value a sampled value stands for, if any.
fn allowed_value(value: &str, allowed: &[&'static str]) -> Option<&'static str> {
    let key = vocabulary_key(value);
    allowed.iter().copied().find(|a| *a == key || value_synonyms(a).contains(&key.as_str()))
}

/// How an enumerated column is fed from a column whose sample is `values`.
enum Vocabulary {
    /// Every value is an allowed one up to case: trim and lowercase.
    Lowercase,
    /// Every value is an allowed one or a well-known synonym: a `map`.
    Map(Vec<(String, &'static str)>),
    /// Some values match no allowed one (listed): kept in custom_fields.
    Unmatched { matched: Vec<(String, &'static str)>, unmatched: Vec<String> },
    /// More distinct values than a vocabulary has: kept in custom_fields.
    TooMany,
}

fn vocabulary(profile: &ColumnProfile, allowed: &[&'static str]) -> Vocabulary {
    if profile.values.is_empty() {
        return Vocabulary::TooMany;
    }
    let mut matched = Vec::new();
    let mut unmatched = Vec::new();
    for (value, _) in &profile.values {
        match allowed_value(value, allowed) {
            Some(a) => matched.push((value.trim().to_string(), a)),
            None => unmatched.push(value.clone()),
        }
    }
    if !unmatched.is_empty() {
        Vocabulary::Unmatched { matched, unmatched }
    } else if matched.iter().all(|(v, a)| v.to_lowercase() == *a) {
        Vocabulary::Lowercase
    } else {
        Vocabulary::Map(matched)
    }
}

/// A case-insensitive `map` transform: each allowed value as itself, and
/// each sampled spelling (one per spelling up to case) as its value.
fn map_rule(pairs: &[(String, &str)], allowed: &[&str]) -> String {
    let mut entries: Vec<(String, String)> = allowed.iter().map(|a| (a.to_string(), a.to_string())).collect();
    for (value, to) in pairs {
        if !entries.iter().any(|(k, _)| k.to_lowercase() == value.to_lowercase()) {
            entries.push((value.clone(), to.to_string()));
        }
    }
    let values: Vec<String> = entries.iter().map(|(k, v)| format!("{} = {}", toml_str(k), toml_str(v))).collect();
    format!("{{ map = {{ values = {{ {} }}, case_insensitive = true }} }}", values.join(", "))
}

/// Matches target columns to headers: best scores first, each header once.
pub fn match_columns(entity: &str, headers: &[&str]) -> Vec<(String, String, f64)> {
    let Some(t) = table(entity) else { return Vec::new() };
    let mut candidates: Vec<(f64, &str, &str)> = Vec::new();
    for def in t.mappable_columns() {
        if def.references.is_some() || def.ty == TargetType::Json {
            continue;
        }
        for h in headers {
            // A sub-document's field also matches by its own name
            // (`name.last`); an array element's (`phones.0.type`) does not.
            let leaf = h.rsplit_once('.').map(|(_, l)| l).filter(|_| !h.split('.').any(|p| p.parse::<usize>().is_ok()));
            let s = score(entity, def.name, h).max(leaf.map_or(0.0, |l| score(entity, def.name, l)));
            if s >= THRESHOLD {
                candidates.push((s, def.name, h));
            }
        }
    }
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let mut out: Vec<(String, String, f64)> = Vec::new();
    for (s, column, header) in candidates {
        if out.iter().any(|(c, h, _)| c == column || h == header) {
            continue;
        }
        out.push((column.to_string(), header.to_string(), s));
    }
    out
}

/// The key: a column every sampled row has, distinct, named like an id
/// first; else the whole row.
fn pick_key(columns: &[ColumnProfile]) -> Option<&ColumnProfile> {
    let idlike = |n: &str| {
        let n = normalize(n);
        ["id", "nr", "no", "number", "key", "code", "nummer", "num", "ref"].iter().any(|s| n.ends_with(s))
    };
    let unique: Vec<&ColumnProfile> = columns.iter().filter(|c| c.unique && kind(c) != "empty").collect();
    // An id column with a few repeats or blanks is still the key: repeats
    // are duplicates (the last wins), blanks are rejected.
    let mostly = |c: &&ColumnProfile| {
        idlike(&c.name) && c.present > 0 && c.distinct * 100 >= c.present * 90 && c.null_ratio < 0.1
    };
    unique.iter().find(|c| idlike(&c.name)).copied().or_else(|| columns.iter().find(mostly)).or(unique.first().copied())
}

/// Writes the starting mapping for `inspection` and `entity`. `path` is
/// how the mapping names the file (relative to where it will be saved).
pub fn propose(inspection: &Inspection, entity: &str, path: &str) -> Result<Proposal, String> {
    let t = table(entity).filter(|t| t.mappable).ok_or_else(|| {
        format!("{entity} is not an entity a mapping can load (contacts, tasks, documents, task_boards, task_columns, document_revisions)")
    })?;
    let stem = Path::new(&inspection.file).file_stem().and_then(|s| s.to_str()).unwrap_or("source");
    let source = snake(stem);
    let mut m = String::new();
    let _ = writeln!(
        m,
        "# A starting mapping written by `migrate init` from {} ({} rows sampled).",
        inspection.file, inspection.rows_sampled
    );
    let _ = writeln!(m, "# Check each match, then `migrate validate` and `migrate preview` this file.\n");
    let _ = writeln!(
        m,
        "[migration]\nname = {}\norg_id = \"${{ORG_ID}}\"\nsource_system = {}\n",
        toml_str(&source),
        toml_str(&source)
    );
    let _ = writeln!(m, "[sources.{}]", toml_key(&source));
    if let Some(why) = &inspection.header_looks_like_data {
        let _ = writeln!(m, "# warning ({}): {why}", migrate_engine::header::HEADER_LOOKS_LIKE_DATA);
        let _ = writeln!(
            m,
            "# header = false  # if line/row {} is a record: the columns become column_1, column_2, …",
            inspection.header_line
        );
    }
    match inspection.kind.as_str() {
        "csv" => {
            let _ = writeln!(m, "kind = \"csv\"\npath = {}", toml_str(path));
            if let Some(e) = inspection.encoding.as_deref().filter(|e| *e != "utf-8") {
                let how = inspection.encoding_confidence.as_deref().unwrap_or("");
                let _ = writeln!(m, "encoding = {}  # {how}", toml_str(e));
            }
            if let Some(d) = &inspection.delimiter {
                let _ = writeln!(m, "delimiter = {}", toml_str(d));
            }
            if inspection.header_line > 1 {
                let _ = writeln!(m, "skip_rows = \"auto\"  # the header is on line {}", inspection.header_line);
            }
        }
        "excel" => {
            let _ = writeln!(m, "kind = \"excel\"\npath = {}", toml_str(path));
            if let Some(sheet) = &inspection.sheet {
                let _ = writeln!(m, "sheet = {}  # of {}", toml_str(sheet), inspection.sheets.join(", "));
            }
            if inspection.header_line > 1 {
                let _ = writeln!(
                    m,
                    "skip_rows = {}  # the header is on row {}",
                    inspection.header_line - 1,
                    inspection.header_line
                );
            }
        }
        "mongodb" if Path::new(&inspection.file).exists() => {
            let _ = writeln!(m, "kind = \"mongodb\"\npath = {}  # a mongoexport file", toml_str(path));
            let mixed: Vec<&str> = inspection.paths.iter().filter(|p| p.mixed).map(|p| p.path.as_str()).collect();
            if !mixed.is_empty() {
                let _ = writeln!(
                    m,
                    "# Types vary between documents at: {}. Coerce with a transform (what does not convert is rejected) or keep PATH.$json.",
                    mixed.join(", ")
                );
            }
        }
        "xml" => {
            let Some(record) = &inspection.record else {
                return Err(format!(
                    "{}: no element repeats with fields of its own: init cannot choose a record path (write the source block by hand)",
                    inspection.file
                ));
            };
            let _ = writeln!(m, "kind = \"xml\"\npath = {}", toml_str(path));
            let inside = format!("{record}/");
            let others: Vec<&str> = inspection
                .record_fields
                .iter()
                .filter(|r| !r.fields.is_empty() && r.record != *record && !r.record.starts_with(&inside))
                .map(|r| r.record.as_str())
                .take(3)
                .collect();
            let also = if others.is_empty() { String::new() } else { format!("; others: {}", others.join(", ")) };
            let _ = writeln!(
                m,
                "record = {}  # the element with fields of its own that repeats most{also}",
                toml_str(record)
            );
            let fields: Vec<String> =
                inspection.fields.iter().map(|(name, p)| format!("{} = {}", toml_key(name), toml_str(p))).collect();
            let _ = writeln!(m, "fields = {{ {} }}", fields.join(", "));
        }
        other => {
            return Err(format!(
                "init writes mappings for CSV, Excel, XML and mongoexport files, not {other} (write the source block by hand)"
            ));
        }
    }
    let columns = &inspection.columns;
    // A document's sub-documents and arrays are JSON: kept, never matched.
    let path = |name: &str| inspection.paths.iter().find(|p| p.path == name);
    let is_json = |name: &str| {
        // An XML child that repeats inside a record is read as a JSON list.
        inspection.fields.iter().any(|(n, p)| n == name && p.ends_with("[]"))
            || path(name).is_some_and(|p| {
                p.mixed
                    || (!p.types.is_empty()
                        && p.types.iter().all(|(t, _)| matches!(t.as_str(), "object" | "array" | "null")))
            })
    };
    let headers: Vec<&str> =
        columns.iter().filter(|c| kind(c) != "empty" && !is_json(&c.name)).map(|c| c.name.as_str()).collect();
    let mut matches = match_columns(entity, &headers);
    let profile = |h: &str| columns.iter().find(|c| c.name == h);

    // A whole-name column feeds first and last name when they have none.
    let mut name_split: Option<&ColumnProfile> = None;
    if entity == "contacts" && !matches.iter().any(|(c, _, _)| c == "first_name" || c == "last_name") {
        name_split = columns.iter().find(|c| {
            FULL_NAME.contains(&normalize(&c.name).as_str()) && !matches.iter().any(|(_, h, _)| *h == c.name)
        });
    }
    // A company-like "Name" is better kept as the company when nothing else is.
    if let Some(n) = name_split
        && !matches.iter().any(|(c, _, _)| c == "company")
        && kind(n) == "text"
        && n.examples
            .iter()
            .any(|e| ["GmbH", "Ltd", "Inc", "LLC", "AG", "SA", "S.A.", "SARL", "KG"].iter().any(|s| e.contains(s)))
    {
        matches.push(("company".into(), n.name.clone(), 0.6));
        name_split = None;
    }

    let key = pick_key(columns);
    let _ = writeln!(m, "\n[{entity}]\nfrom = {}", toml_str(&source));
    match key {
        Some(k) if k.unique => {
            let _ = writeln!(m, "key = [{}]  # present and distinct in every sampled row", toml_str(&k.name));
        }
        Some(k) => {
            let _ = writeln!(
                m,
                "key = [{}]  # {} repeated values in the sample (the last row wins), {:.0}% empty (rejected)",
                toml_str(&k.name),
                k.present - k.distinct,
                k.null_ratio * 100.0
            );
        }
        None => {
            let _ = writeln!(
                m,
                "# No column is present and distinct in every sampled row: a corrected row becomes a new row."
            );
            let _ = writeln!(m, "key = \"$row_hash\"");
        }
    }
    if let Some(email) = matches.iter().find(|(c, _, _)| c == "email") {
        let _ = writeln!(m, "# Duplicates: {} looks like a natural key for deduplication.", email.1);
    }
    let _ = writeln!(m, "\n[{entity}.columns]");
    let mut used: Vec<&str> = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    let mut unmatched_values = Vec::new();
    for def in t.mappable_columns() {
        if let Some((_, header, s)) = matches.iter().find(|(c, _, _)| c == def.name)
            && let Some(p) = profile(header)
        {
            let _ = writeln!(m, "# {} ← {:?}, score {s:.2}, {}: {}", def.name, header, p.guessed_type, examples(p));
            let Some(allowed) = def.allowed else {
                let _ = writeln!(m, "{} = {}", def.name, rule(def, p));
                used.push(header);
                continue;
            };
            let _ = writeln!(m, "# {} allows: {}", def.name, allowed.join(", "));
            let from = toml_str(&p.name);
            match vocabulary(p, allowed) {
                Vocabulary::Lowercase => {
                    let _ = writeln!(m, "{} = {}", def.name, rule(def, p));
                }
                Vocabulary::Map(pairs) => {
                    let _ = writeln!(m, "# every sampled value is an allowed one or a well-known synonym of one");
                    let _ = writeln!(
                        m,
                        "{} = {{ from = {from}, transform = [\"trim\", {}] }}",
                        def.name,
                        map_rule(&pairs, allowed)
                    );
                }
                vocab @ (Vocabulary::Unmatched { .. } | Vocabulary::TooMany) => {
                    let mut k = snake(&p.name);
                    while keys.contains(&k) {
                        k.push('_');
                    }
                    keys.push(k.clone());
                    let target = toml_str(&format!("custom_fields.{k}"));
                    if let Vocabulary::Unmatched { mut matched, unmatched } = vocab {
                        let shown: Vec<String> = unmatched.iter().map(|v| toml_str(v)).collect();
                        let _ = writeln!(
                            m,
                            "# The sample's values {} are none of these, so {:?} is kept in {target}.",
                            shown.join(", "),
                            p.name
                        );
                        let _ = writeln!(
                            m,
                            "# To load it into {} instead, give each value its allowed one and uncomment:",
                            def.name
                        );
                        matched.extend(unmatched.iter().map(|v| (v.clone(), "?")));
                        let _ = writeln!(
                            m,
                            "# {} = {{ from = {from}, transform = [\"trim\", {}] }}",
                            def.name,
                            map_rule(&matched, allowed)
                        );
                        unmatched_values.push((def.name.to_string(), p.name.clone(), unmatched));
                    } else {
                        let _ = writeln!(
                            m,
                            "# {:?} has more than {} distinct values in the sample: kept in {target}.",
                            p.name,
                            crate::inspect::VOCABULARY
                        );
                        unmatched_values.push((def.name.to_string(), p.name.clone(), Vec::new()));
                    }
                    let _ = writeln!(m, "{target} = {from}");
                }
            }
            used.push(header);
        } else if let (Some(p), "first_name" | "last_name") = (name_split, def.name) {
            let part = if def.name == "first_name" { "first" } else { "last" };
            let _ = writeln!(m, "# {} ← the {part} part of {:?}: {}", def.name, p.name, examples(p));
            let _ = writeln!(
                m,
                "{} = {{ from = {}, transform = [\"trim\", {{ name = {{ part = \"{part}\" }} }}] }}",
                def.name,
                toml_str(&p.name)
            );
            used.push(&p.name);
        } else if def.not_null && def.default.is_none() && def.references.is_none() {
            let _ =
                writeln!(m, "# {} is required and no source column matched it: give it a source or a value.", def.name);
            let _ = writeln!(m, "{} = {{ value = \"\" }}", def.name);
        }
    }
    // Everything else is kept, in custom_fields.
    // (A first array element's fields were candidates only: the array
    // itself is kept whole.)
    let rest: Vec<&ColumnProfile> = columns
        .iter()
        .filter(|c| !used.contains(&c.name.as_str()) && key.is_none_or(|k| k.name != c.name))
        .filter(|c| !(inspection.kind == "mongodb" && c.name.contains(".0.")))
        .collect();
    if t.column("custom_fields").is_some() && !rest.is_empty() {
        let _ = writeln!(m, "\n# Source columns no target column matched, kept in custom_fields:");
        for p in rest {
            if kind(p) == "empty" {
                let _ = writeln!(m, "# {:?} was empty in the sample", p.name);
                continue;
            }
            let mut k = snake(&p.name);
            while keys.contains(&k) {
                k.push('_');
            }
            keys.push(k.clone());
            let target = toml_str(&format!("custom_fields.{k}"));
            if kind(p).starts_with("money") {
                let _ = writeln!(
                    m,
                    "{target} = {{ from = {}, transform = [{}] }}  # {}",
                    toml_str(&p.name),
                    money_rule(p),
                    examples(p)
                );
            } else if is_json(&p.name) {
                // A field of varying type is kept exactly: `.$json`.
                let from =
                    if path(&p.name).is_some_and(|d| d.mixed) { format!("{}.$json", p.name) } else { p.name.clone() };
                let _ = writeln!(
                    m,
                    "{target} = {{ from = {}, transform = [\"json\"] }}  # {}",
                    toml_str(&from),
                    examples(p)
                );
            } else {
                let _ = writeln!(m, "{target} = {}  # {}", toml_str(&p.name), examples(p));
            }
        }
    }
    matches.retain(|(c, _, _)| !unmatched_values.iter().any(|(u, _, _)| u == c));
    Ok(Proposal { mapping: m, matches, key: key.map(|k| k.name.clone()), unmatched_values })
}

/// What a proposed mapping does to the first rows of its source: the
/// preview `init` prints after writing it.
#[derive(Debug, Default)]
pub struct SampleCheck {
    pub read: usize,
    pub mapped: usize,
    pub filtered: usize,
    /// (column, reason code, rows, an example value, its message), the
    /// most rows first.
    pub rejected: Vec<(String, String, usize, String, String)>,
}

/// Maps the first `rows` source rows with `mapping` (the text `propose`
/// wrote, as if saved at `path`: its source paths are relative to the
/// folder) and counts what would be mapped and rejected, and why. Nothing
/// is written; `ORG_ID` need not be set.
pub async fn check_proposal(mapping: &str, path: &Path, rows: usize) -> Result<SampleCheck, String> {
    let env = |k: &str| std::env::var(k).ok().or_else(|| (k == "ORG_ID").then(|| uuid::Uuid::nil().to_string()));
    let shown = path.display().to_string();
    let parsed = migrate_mappings::parse_lenient(&shown, mapping, &env).map_err(|d| d.render(false))?;
    let (sources, diagnostics) = crate::run::check_mapping(&parsed).await;
    let Some(sources) = sources else { return Err(diagnostics.render(false)) };
    let mut plan = parsed.plan.clone();
    let open = |name: &str| sources.open(name);
    migrate_engine::load_rates(&mut plan, &open).await.map_err(|e| e.to_string())?;
    migrate_engine::infer(&mut plan, &open).await.map_err(|e| e.to_string())?;
    let mut check = SampleCheck::default();
    let mut reasons: Vec<(String, String, usize, String, String)> = Vec::new();
    for entity in &plan.entities {
        let mut source = sources.open_prepared(&entity.source).await.map_err(|e| e.to_string())?;
        let mut read = 0usize;
        let mut fill = migrate_engine::FillDown::default();
        while read < rows {
            let Some(mut batch) = source.next_batch().await.map_err(|e| e.to_string())? else { break };
            fill.apply(entity, &mut batch).map_err(|e| e.to_string())?;
            let output = migrate_engine::map_batch(entity, &batch, read as u64).map_err(|e| e.to_string())?;
            let take = (rows - read).min(batch.height());
            let mapped = output.mapped.source_rows.iter().filter(|r| **r < take).count();
            let rejects: Vec<_> = output.rejects.iter().filter(|r| r.row < take).collect();
            check.mapped += mapped;
            check.filtered += take - mapped - rejects.len();
            for r in rejects {
                let column = r.column.clone().unwrap_or_default();
                let reason = r.reason.code().to_string();
                match reasons.iter_mut().find(|x| x.0 == column && x.1 == reason) {
                    Some(x) => x.2 += 1,
                    None => reasons.push((column, reason, 1, r.value.clone().unwrap_or_default(), r.message.clone())),
                }
            }
            read += take;
        }
        check.read += read;
    }
    reasons.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    check.rejected = reasons;
    Ok(check)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_spellings_match_their_column() {
        let cases: &[(&str, &str, &str)] = &[
            ("contacts", "E-Mail", "email"),
            ("contacts", "E-Mail Address", "email"),
            ("contacts", "Email", "email"),
            ("contacts", "mail", "email"),
            ("contacts", "Courriel", "email"),
            ("contacts", "Correo electrónico", "email"),
            ("contacts", "Company Name", "company"),
            ("contacts", "Organisation", "company"),
            ("contacts", "Firma", "company"),
            ("contacts", "Société", "company"),
            ("contacts", "First Name", "first_name"),
            ("contacts", "Vorname", "first_name"),
            ("contacts", "Prénom", "first_name"),
            ("contacts", "Nombre", "first_name"),
            ("contacts", "Last Name", "last_name"),
            ("contacts", "Nachname", "last_name"),
            ("contacts", "Surname", "last_name"),
            ("contacts", "Apellidos", "last_name"),
            ("contacts", "Phone", "phone"),
            ("contacts", "Tel.", "phone"),
            ("contacts", "Mobile", "phone"),
            ("contacts", "Telefonnummer", "phone"),
            ("contacts", "Téléphone", "phone"),
            ("contacts", "Created", "created_at"),
            ("contacts", "Kunde seit", "created_at"),
            ("contacts", "Joined", "created_at"),
            ("tasks", "Due", "due_date"),
            ("tasks", "Deadline", "due_date"),
            ("tasks", "Fälligkeit", "due_date"),
            ("tasks", "Échéance", "due_date"),
            ("tasks", "Subject", "title"),
            ("tasks", "Betreff", "title"),
            ("tasks", "Assigned to", "assignee_email"),
            ("documents", "File name", "file_name"),
            ("documents", "Dateiname", "file_name"),
        ];
        for (entity, header, column) in cases {
            let found = match_columns(entity, &[header]);
            assert_eq!(found.first().map(|(c, _, _)| c.as_str()), Some(*column), "{entity}: {header:?} → {found:?}");
        }
        // Nothing for headers that mean none of them.
        assert!(match_columns("contacts", &["LegacyFlag", "Region", "Umsatz", "Name", "Last call"]).is_empty());
        // Each header once, each column once, the better match first.
        let m = match_columns("contacts", &["Email", "E-Mail 2", "Phone"]);
        assert_eq!(
            m.iter().map(|(c, h, _)| (c.as_str(), h.as_str())).collect::<Vec<_>>(),
            [("email", "Email"), ("phone", "Phone")]
        );
    }

    #[test]
    fn custom_field_names_are_snake_case() {
        for (header, expected) in [
            ("LegacyFlag", "legacy_flag"),
            ("CustomerID", "customer_id"),
            ("VATNumber", "vat_number"),
            ("Umsatz €", "umsatz"),
            ("Kunde seit", "kunde_seit"),
            ("VAT-ID", "vat_id"),
            ("Größe", "groesse"),
            ("", "field"),
        ] {
            assert_eq!(snake(header), expected, "{header}");
        }
    }
}
