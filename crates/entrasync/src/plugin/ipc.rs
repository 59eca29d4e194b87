//! Arrow IPC stream bytes, as CloudQuery's protocol carries schemas and records: a schema is a
//! stream with only the schema message; a record is a stream with exactly one batch (the Go
//! reader takes only the first). No compression, no dictionaries.

use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{ArrowError, Schema, SchemaRef};
use std::io::Cursor;

pub fn schema_to_bytes(schema: &Schema) -> Result<Vec<u8>, ArrowError> {
    let mut buf = Vec::new();
    let mut writer = StreamWriter::try_new(&mut buf, schema)?;
    writer.finish()?;
    drop(writer);
    Ok(buf)
}

pub fn record_to_bytes(batch: &RecordBatch) -> Result<Vec<u8>, ArrowError> {
    let mut buf = Vec::new();
    let mut writer = StreamWriter::try_new(&mut buf, &batch.schema())?;
    writer.write(batch)?;
    writer.finish()?;
    drop(writer);
    Ok(buf)
}

pub fn schema_from_bytes(bytes: &[u8]) -> Result<SchemaRef, ArrowError> {
    Ok(StreamReader::try_new(Cursor::new(bytes), None)?.schema())
}

/// The first (and only) batch of a record message.
pub fn record_from_bytes(bytes: &[u8]) -> Result<RecordBatch, ArrowError> {
    let mut reader = StreamReader::try_new(Cursor::new(bytes), None)?;
    match reader.next() {
        Some(batch) => batch,
        None => Err(ArrowError::IpcError(
            "the record message holds no batch".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::convert;

    #[test]
    fn schemas_keep_every_cq_key_and_extension_metadata() {
        let table = crate::tables::by_name("entraid_group_members").unwrap();
        let schema = convert::schema(table);
        let back = schema_from_bytes(&schema_to_bytes(&schema).unwrap()).unwrap();
        assert_eq!(back.metadata(), schema.metadata());
        assert_eq!(back.metadata()["cq:table_depends_on"], "entraid_groups");
        let id = back.field_with_name("_cq_id").unwrap();
        assert_eq!(id.metadata()["ARROW:extension:name"], "uuid");
        assert_eq!(id.metadata()["ARROW:extension:metadata"], "uuid-serialized");
        assert_eq!(id.metadata()["cq:extension:unique"], "true");
        for f in back.fields() {
            for key in [
                "cq:extension:primary_key",
                "cq:extension:unique",
                "cq:extension:incremental",
                "cq:extension:primary_key_component",
                "cq:extension:type_schema",
            ] {
                assert!(f.metadata().contains_key(key), "{} lacks {key}", f.name());
            }
        }
    }
}
