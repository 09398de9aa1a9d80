//! Choices a mapping leaves to the data (`order = "auto"` for dates,
//! `locale = "auto"` for amounts), made by reading the source once before
//! any row is loaded. A column the data does not settle is an error with
//! the evidence, never a guess; every decision goes into the report.

use serde::{Deserialize, Serialize};

use crate::error::EngineError;
use crate::plan::RunPlan;
use crate::run::OpenSource;
use crate::transform::date::OrderEvidence;
use crate::transform::money::LocaleEvidence;
use crate::transform::{DateFormat, MoneySpec, RatesTable, Transform};

/// A choice made from the data, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub entity: String,
    /// The target column (with its JSONB key, if any).
    pub column: String,
    /// `date_order` or `money_locale` (of a column); `encoding`,
    /// `delimiter`, `quoting` or `skip_rows` (of a source, named in
    /// `source`; `column` is then empty).
    pub setting: String,
    pub decision: String,
    pub evidence: String,
    /// The source block a source setting belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

enum Evidence {
    Order(OrderEvidence),
    Locale(LocaleEvidence),
}

/// Loads the rates tables that conversions name (each source once).
pub async fn load_rates(plan: &mut RunPlan, open_source: &OpenSource<'_>) -> Result<(), EngineError> {
    let mut loaded: Vec<(String, std::sync::Arc<RatesTable>)> = Vec::new();
    for entity in &mut plan.entities {
        for column in &mut entity.columns {
            for transform in &mut column.transforms {
                let Transform::Money(MoneySpec { convert: Some(conversion), .. }) = transform else { continue };
                if conversion.rates.is_some() {
                    continue;
                }
                let name = conversion.rates_source.clone();
                let table = match loaded.iter().find(|(n, _)| *n == name) {
                    Some((_, t)) => t.clone(),
                    None => {
                        let t = std::sync::Arc::new(read_rates(&name, open_source).await?);
                        loaded.push((name, t.clone()));
                        t
                    }
                };
                conversion.rates = Some(table);
            }
        }
    }
    Ok(())
}

async fn read_rates(name: &str, open_source: &OpenSource<'_>) -> Result<RatesTable, EngineError> {
    let source_error = |error| EngineError::Source { source_name: name.to_string(), error };
    let mut source = open_source(name).map_err(source_error)?;
    source.prepare().await.map_err(source_error)?;
    for column in ["date", "currency", "rate"] {
        if !source.columns().iter().any(|c| c == column) {
            return Err(EngineError::UnknownSourceColumn {
                source_name: name.to_string(),
                column: column.to_string(),
                available: source.columns().join(", "),
            });
        }
    }
    let mut table = RatesTable::default();
    while let Some(batch) = source.next_batch().await.map_err(source_error)? {
        let (dates, currencies, rates) = (batch.text("date")?, batch.text("currency")?, batch.text("rate")?);
        for row in 0..batch.height() {
            let (Some(d), Some(c), Some(r)) = (dates.get(row), currencies.get(row), rates.get(row)) else {
                let at = batch.locations.get(row).map(ToString::to_string).unwrap_or_default();
                return Err(source_error(crate::SourceError::new(format!(
                    "{at}: a rate needs date, currency and rate"
                ))));
            };
            table.add(d, c, r).map_err(|m| {
                let at = batch.locations.get(row).map(ToString::to_string).unwrap_or_default();
                source_error(crate::SourceError::new(format!("{at}: {m}")))
            })?;
        }
    }
    Ok(table)
}

/// Resolves every `auto` setting of the plan; returns the decisions.
pub async fn infer(plan: &mut RunPlan, open_source: &OpenSource<'_>) -> Result<Vec<Decision>, EngineError> {
    let mut decisions = Vec::new();
    for entity in &mut plan.entities {
        // (column index, transform index, evidence)
        let mut wanted: Vec<(usize, usize, Evidence)> = Vec::new();
        for (c, column) in entity.columns.iter().enumerate() {
            for (t, transform) in column.transforms.iter().enumerate() {
                match transform {
                    Transform::Date(spec) if spec.infer_order => {
                        wanted.push((c, t, Evidence::Order(OrderEvidence::default())))
                    }
                    Transform::Money(spec) if spec.infer_locale => {
                        wanted.push((c, t, Evidence::Locale(LocaleEvidence::default())))
                    }
                    _ => {}
                }
            }
        }
        if wanted.is_empty() {
            continue;
        }
        let mut source = open_source(&entity.source)
            .map_err(|error| EngineError::Source { source_name: entity.source.clone(), error })?;
        source.prepare().await.map_err(|error| EngineError::Source { source_name: entity.source.clone(), error })?;
        while let Some(batch) = source
            .next_batch()
            .await
            .map_err(|error| EngineError::Source { source_name: entity.source.clone(), error })?
        {
            for (c, t, evidence) in &mut wanted {
                let Some(column) = entity.columns.get(*c) else { continue };
                let Ok(mut values) = crate::map::input_values(&column.input, &batch, &column.target) else { continue };
                // The transforms before the one to settle, as the run applies them.
                for earlier in column.transforms.iter().take(*t) {
                    values = earlier.apply(&values).values;
                }
                for v in values.iter().flatten() {
                    match evidence {
                        Evidence::Order(e) => e.observe(v),
                        Evidence::Locale(e) => e.observe(v),
                    }
                }
            }
        }
        for (c, t, evidence) in wanted {
            let Some(column) = entity.columns.get_mut(c) else { continue };
            let name = match &column.json_key {
                Some(k) => format!("{}.{k}", column.target),
                None => column.target.clone(),
            };
            let fail = |message: String| EngineError::Inference {
                entity: entity.entity.clone(),
                column: name.clone(),
                message,
            };
            let (setting, decision, described) = match (column.transforms.get_mut(t), evidence) {
                (Some(Transform::Date(spec)), Evidence::Order(e)) => {
                    let order = e.decide().map_err(|m| fail(format!("{m}; set order = \"mdy\" or \"dmy\"")))?;
                    spec.formats = DateFormat::for_order(order);
                    spec.infer_order = false;
                    ("date_order", format!("{order:?}").to_lowercase(), e.describe())
                }
                (Some(Transform::Money(spec)), Evidence::Locale(e)) => {
                    let locale =
                        e.decide().map_err(|m| fail(format!("{m}; set locale = \"en\", \"de\", \"fr\" or \"ch\"")))?;
                    spec.locale = locale;
                    spec.infer_locale = false;
                    ("money_locale", locale.name().to_string(), e.describe())
                }
                _ => continue,
            };
            decisions.push(Decision {
                entity: entity.entity.clone(),
                column: name,
                setting: setting.to_string(),
                decision,
                evidence: described,
                source: None,
            });
        }
    }
    Ok(decisions)
}

/// Settles a plan's `auto` settings as an earlier `infer` decided them
/// (over the whole input), so that each partition of a partitioned run maps
/// its slice exactly as a whole run would.
pub fn apply_decisions(plan: &mut RunPlan, decisions: &[Decision]) -> Result<(), EngineError> {
    for d in decisions {
        let fail = |message: &str| EngineError::Inference {
            entity: d.entity.clone(),
            column: d.column.clone(),
            message: format!("{message}: {} = {}", d.setting, d.decision),
        };
        let entity = plan.entities.iter_mut().find(|e| e.entity == d.entity).ok_or_else(|| fail("no such entity"))?;
        let column = entity
            .columns
            .iter_mut()
            .find(|c| match &c.json_key {
                Some(k) => format!("{}.{k}", c.target) == d.column,
                None => c.target == d.column,
            })
            .ok_or_else(|| fail("no such column"))?;
        let settled = column.transforms.iter_mut().find_map(|t| match (t, d.setting.as_str()) {
            (Transform::Date(spec), "date_order") if spec.infer_order => {
                let order = match d.decision.as_str() {
                    "mdy" => crate::transform::DayOrder::Mdy,
                    "dmy" => crate::transform::DayOrder::Dmy,
                    "ymd" => crate::transform::DayOrder::Ymd,
                    _ => return None,
                };
                spec.formats = DateFormat::for_order(order);
                spec.infer_order = false;
                Some(())
            }
            (Transform::Money(spec), "money_locale") if spec.infer_locale => {
                spec.locale = crate::transform::Locale::parse(&d.decision)?;
                spec.infer_locale = false;
                Some(())
            }
            _ => None,
        });
        settled.ok_or_else(|| fail("nothing left to settle"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;

    use super::*;
    use crate::plan::{ColumnPlan, EntityPlan, KeySpec, OnExisting};
    use crate::report::SourceInfo;
    use crate::source::{Source, SourceError};
    use crate::transform::{DateSpec, Locale, MoneySpec};
    use crate::{Batch, SourceLocation};

    /// A source of our own trait, serving fixed rows in batches of two.
    struct Rows(Vec<[&'static str; 2]>, Vec<String>);

    #[async_trait]
    impl Source for Rows {
        fn columns(&self) -> &[String] {
            &self.1
        }
        async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
            if self.0.is_empty() {
                return Ok(None);
            }
            let take: Vec<[&str; 2]> = self.0.drain(..self.0.len().min(2)).collect();
            let file: Arc<str> = "t".into();
            let rows = take.iter().map(|r| r.iter().map(|v| Some(v.to_string())).collect()).collect();
            let locations =
                (0..take.len()).map(|i| SourceLocation::Line { file: file.clone(), line: i as u64 }).collect();
            Ok(Some(Batch::from_rows(&self.1, rows, locations).map_err(|e| SourceError::new(e.to_string()))?))
        }
        fn info(&self) -> SourceInfo {
            SourceInfo::default()
        }
    }

    fn plan() -> RunPlan {
        let column = |target: &str, from: &str, t: Transform| ColumnPlan {
            transforms: vec![Transform::Trim, t],
            ..ColumnPlan::from_source(target, from)
        };
        RunPlan {
            name: "t".into(),
            org_id: uuid::Uuid::nil(),
            source_system: "s".into(),
            max_rejected: None,
            entities: vec![EntityPlan {
                entity: "contacts".into(),
                source: "src".into(),
                key: KeySpec::RowHash,
                columns: vec![
                    column(
                        "created_at",
                        "d",
                        Transform::Date(Box::new(DateSpec {
                            formats: vec![],
                            infer_order: true,
                            ..DateSpec::default()
                        })),
                    ),
                    column(
                        "amount",
                        "m",
                        Transform::Money(MoneySpec {
                            infer_locale: true,
                            default_currency: Some("EUR".into()),
                            ..MoneySpec::default()
                        }),
                    ),
                ],
                on_existing: OnExisting::Update,
                dedupe: None,
                match_existing: Vec::new(),
                on_missing: Default::default(),
                max_deleted: crate::plan::DEFAULT_MAX_DELETED,
                similar: None,
                double_encoded: Default::default(),
                filter: Vec::new(),
            }],
        }
    }

    async fn run_infer(rows: Vec<[&'static str; 2]>) -> (RunPlan, Result<Vec<Decision>, EngineError>) {
        let mut plan = plan();
        let rows = std::sync::Mutex::new(Some(rows));
        let open = |_: &str| -> Result<Box<dyn Source>, SourceError> {
            let r = rows.lock().unwrap().take().unwrap_or_default();
            Ok(Box::new(Rows(r, vec!["d".into(), "m".into()])))
        };
        let decisions = infer(&mut plan, &open).await;
        (plan, decisions)
    }

    #[tokio::test]
    async fn auto_settings_are_decided_from_the_whole_column_with_evidence() {
        let (plan, decisions) =
            run_infer(vec![[" 03/06/2018", "1.234,56"], ["01/02/2020", "12,00"], ["25/12/2019 ", "7"]]).await;
        let decisions = decisions.unwrap();
        assert_eq!(decisions.len(), 2);
        assert_eq!((decisions[0].setting.as_str(), decisions[0].decision.as_str()), ("date_order", "dmy"));
        assert_eq!(decisions[0].evidence, "3 numeric dates: 1 day-first (e.g. \"25/12/2019\"), 0 month-first");
        assert_eq!((decisions[1].setting.as_str(), decisions[1].decision.as_str()), ("money_locale", "de"));
        let columns = &plan.entities[0].columns;
        let Transform::Date(date) = &columns[0].transforms[1] else { panic!() };
        assert!(!date.infer_order);
        assert_eq!(date.formats, DateFormat::for_order(crate::transform::DayOrder::Dmy));
        let Transform::Money(money) = &columns[1].transforms[1] else { panic!() };
        assert_eq!(money.locale, Locale::De);
    }

    #[tokio::test]
    async fn decisions_settle_another_copy_of_the_plan_the_same_way() {
        let (inferred, decisions) =
            run_infer(vec![[" 03/06/2018", "1.234,56"], ["01/02/2020", "12,00"], ["25/12/2019 ", "7"]]).await;
        let decisions = decisions.unwrap();
        let mut copy = plan();
        apply_decisions(&mut copy, &decisions).unwrap();
        let settled =
            |p: &RunPlan| format!("{:?}", p.entities[0].columns.iter().map(|c| &c.transforms).collect::<Vec<_>>());
        assert_eq!(settled(&copy), settled(&inferred));
        // Applying twice finds nothing left to settle.
        let again = apply_decisions(&mut copy, &decisions).unwrap_err().to_string();
        assert!(again.contains("nothing left to settle: date_order = dmy"), "{again}");
    }

    #[tokio::test]
    async fn an_ambiguous_column_is_an_error_with_its_evidence() {
        let (_, result) = run_infer(vec![["03/06/2018", "1,50"], ["01/02/2020", "2,50"]]).await;
        let message = result.unwrap_err().to_string();
        assert!(
            message.starts_with(
                "contacts.created_at: ambiguous: none of 2 values has a part above 12 (e.g. \"03/06/2018\""
            ),
            "{message}"
        );
        assert!(message.ends_with("set order = \"mdy\" or \"dmy\""), "{message}");
    }
}
