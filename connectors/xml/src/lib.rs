//! XML source: one row per record element, streamed with quick-xml.
//!
//! A record path (`/Export/Customers/Customer`) picks the row element;
//! fields are paths relative to it (`Name`, `Address/City`, `@id`,
//! `Phones/Phone[]` for a list). Namespaces are matched by URI: a prefixed
//! path segment means the URI the mapping gives that prefix, whatever
//! prefix the file uses. DOCTYPEs are never fetched or expanded: an entity
//! other than the five predefined ones and character references is an
//! error, so entity-expansion bombs fail at once in little memory.

mod config;
mod error;
mod path;
mod source;

pub use config::XmlSourceConfig;
pub use error::XmlError;
pub use source::{ElementPaths, XmlSource, element_paths};
