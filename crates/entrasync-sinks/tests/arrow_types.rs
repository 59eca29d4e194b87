//! One column of every Arrow type CloudQuery sources send, through each sink (as the
//! destination opens it), read back from SQLite, PostgreSQL, parquet, JSON and CSV and compared
//! value by value with what was sent. PostgreSQL: `ENTRASYNC_TEST_PG`, default
//! `postgres://postgres@127.0.0.1:5432/test` (tests with `postgres` in their names need it).

use arrow_array::builder::{Int32Builder, Int64Builder, ListBuilder, MapBuilder, StringBuilder};
use arrow_array::types::{IntervalDayTime, IntervalMonthDayNano};
use arrow_array::*;
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use entrasync_sinks::cq;
use entrasync_sinks::destination::open;
use entrasync_sinks::{MigrateMode, Sink, WriteMode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

const UUID: &str = "6f1c2a4e-8b3d-4c5e-9f70-112233445566";
const MAC: [u8; 6] = [0x08, 0x00, 0x2b, 0x01, 0x02, 0x03];

fn ext(name: &str, meta: &str) -> HashMap<String, String> {
    HashMap::from([
        (cq::EXTENSION_NAME.to_string(), name.to_string()),
        (cq::EXTENSION_METADATA.to_string(), meta.to_string()),
    ])
}

/// One column: its field, its array (rows: a typical value, an extreme value, null) and what
/// each store must give back for rows 0 and 1.
struct Col {
    field: Field,
    array: ArrayRef,
    /// SQLite values.
    sqlite: [rusqlite::types::Value; 2],
    /// PostgreSQL `::text`, or JSON (for jsonb columns, compared parsed).
    pg: [Value; 2],
    /// The JSON-lines file's values (CSV: the same, strings unquoted, others as JSON text).
    json: [Value; 2],
}

fn col(
    name: &str,
    dt_array: ArrayRef,
    sqlite: [rusqlite::types::Value; 2],
    pg: [Value; 2],
    json: [Value; 2],
) -> Col {
    Col {
        field: Field::new(name, dt_array.data_type().clone(), true),
        array: dt_array,
        sqlite,
        pg,
        json,
    }
}

fn with_meta(mut c: Col, meta: HashMap<String, String>) -> Col {
    c.field = c.field.with_metadata(meta);
    c
}

fn columns(big_u64: bool) -> Vec<Col> {
    use rusqlite::types::Value::{Blob, Integer as I, Real as R, Text as T};
    let t = |s: &str| T(s.to_string());
    let s = |s: &str| Value::String(s.to_string());
    let ts_meta_utc = Some(Arc::<str>::from("UTC"));
    let uuid = uuid::Uuid::parse_str(UUID).unwrap();
    let mut v = vec![
        col(
            "i8",
            Arc::new(Int8Array::from(vec![Some(1), Some(i8::MIN), None])),
            [I(1), I(-128)],
            [s("1"), s("-128")],
            [json!(1), json!(-128)],
        ),
        col(
            "i16",
            Arc::new(Int16Array::from(vec![Some(-2), Some(i16::MAX), None])),
            [I(-2), I(32767)],
            [s("-2"), s("32767")],
            [json!(-2), json!(32767)],
        ),
        col(
            "i32",
            Arc::new(Int32Array::from(vec![Some(3), Some(i32::MIN), None])),
            [I(3), I(i32::MIN as i64)],
            [s("3"), s("-2147483648")],
            [json!(3), json!(-2147483648i64)],
        ),
        col(
            "i64",
            Arc::new(Int64Array::from(vec![Some(4), Some(i64::MAX), None])),
            [I(4), I(i64::MAX)],
            [s("4"), s("9223372036854775807")],
            [json!(4), json!(i64::MAX)],
        ),
        col(
            "u8",
            Arc::new(UInt8Array::from(vec![Some(5), Some(u8::MAX), None])),
            [I(5), I(255)],
            [s("5"), s("255")],
            [json!(5), json!(255)],
        ),
        col(
            "u16",
            Arc::new(UInt16Array::from(vec![Some(6), Some(u16::MAX), None])),
            [I(6), I(65535)],
            [s("6"), s("65535")],
            [json!(6), json!(65535)],
        ),
        col(
            "u32",
            Arc::new(UInt32Array::from(vec![Some(7), Some(u32::MAX), None])),
            [I(7), I(u32::MAX as i64)],
            [s("7"), s("4294967295")],
            [json!(7), json!(u32::MAX)],
        ),
        col(
            "u64",
            Arc::new(UInt64Array::from(vec![
                Some(8),
                Some(i64::MAX as u64),
                None,
            ])),
            [I(8), I(i64::MAX)],
            [s("8"), s("9223372036854775807")],
            [json!(8), json!(i64::MAX as u64)],
        ),
        col(
            "f32",
            Arc::new(Float32Array::from(vec![Some(1.5), Some(-f32::MAX), None])),
            [R(1.5), R(-f32::MAX as f64)],
            [s("1.5"), s("-3.4028234663852886e+38")],
            [json!(1.5), json!(-f32::MAX as f64)],
        ),
        col(
            "f64",
            Arc::new(Float64Array::from(vec![Some(0.1), Some(-1e300), None])),
            [R(0.1), R(-1e300)],
            [s("0.1"), s("-1e+300")],
            [json!(0.1), json!(-1e300)],
        ),
        col(
            "decimal",
            Arc::new(
                Decimal128Array::from(vec![Some(12_345), Some(-9_999_999_999), None])
                    .with_precision_and_scale(10, 3)
                    .unwrap(),
            ),
            [t("12.345"), t("-9999999.999")],
            [s("12.345"), s("-9999999.999")],
            [s("12.345"), s("-9999999.999")],
        ),
        col(
            "date32",
            Arc::new(Date32Array::from(vec![Some(19_723), Some(-1), None])),
            [t("2024-01-01"), t("1969-12-31")],
            [s("2024-01-01"), s("1969-12-31")],
            [s("2024-01-01"), s("1969-12-31")],
        ),
        col(
            "date64",
            Arc::new(Date64Array::from(vec![
                Some(1_704_067_200_000),
                Some(-86_400_000),
                None,
            ])),
            [t("2024-01-01"), t("1969-12-31")],
            [s("2024-01-01"), s("1969-12-31")],
            [s("2024-01-01"), s("1969-12-31")],
        ),
        col(
            "time32s",
            Arc::new(Time32SecondArray::from(vec![
                Some(3661),
                Some(86_399),
                None,
            ])),
            [t("01:01:01.000000"), t("23:59:59.000000")],
            [s("01:01:01"), s("23:59:59")],
            [s("01:01:01.000000"), s("23:59:59.000000")],
        ),
        col(
            "time32ms",
            Arc::new(Time32MillisecondArray::from(vec![
                Some(45_296_789),
                Some(0),
                None,
            ])),
            [t("12:34:56.789000"), t("00:00:00.000000")],
            [s("12:34:56.789"), s("00:00:00")],
            [s("12:34:56.789000"), s("00:00:00.000000")],
        ),
        col(
            "time64us",
            Arc::new(Time64MicrosecondArray::from(vec![
                Some(1),
                Some(86_399_999_999),
                None,
            ])),
            [t("00:00:00.000001"), t("23:59:59.999999")],
            [s("00:00:00.000001"), s("23:59:59.999999")],
            [s("00:00:00.000001"), s("23:59:59.999999")],
        ),
        col(
            "time64ns",
            Arc::new(Time64NanosecondArray::from(vec![
                Some(1_000),
                Some(86_399_999_999_000),
                None,
            ])),
            [t("00:00:00.000001"), t("23:59:59.999999")],
            [s("00:00:00.000001"), s("23:59:59.999999")],
            [s("00:00:00.000001"), s("23:59:59.999999")],
        ),
        col(
            "ts_s",
            Arc::new(
                TimestampSecondArray::from(vec![Some(1_704_067_200), Some(-1), None])
                    .with_timezone_opt(ts_meta_utc.clone()),
            ),
            [
                t("2024-01-01T00:00:00.000000Z"),
                t("1969-12-31T23:59:59.000000Z"),
            ],
            [s("2024-01-01 00:00:00+00"), s("1969-12-31 23:59:59+00")],
            [
                s("2024-01-01T00:00:00.000000Z"),
                s("1969-12-31T23:59:59.000000Z"),
            ],
        ),
        col(
            "ts_ms",
            Arc::new(TimestampMillisecondArray::from(vec![
                Some(1_704_067_200_123),
                Some(0),
                None,
            ])),
            [
                t("2024-01-01T00:00:00.123000Z"),
                t("1970-01-01T00:00:00.000000Z"),
            ],
            [s("2024-01-01 00:00:00.123+00"), s("1970-01-01 00:00:00+00")],
            [
                s("2024-01-01T00:00:00.123000Z"),
                s("1970-01-01T00:00:00.000000Z"),
            ],
        ),
        col(
            "ts_us",
            Arc::new(
                TimestampMicrosecondArray::from(vec![
                    Some(1_704_067_200_123_456),
                    Some(253_402_300_799_999_999),
                    None,
                ])
                .with_timezone("UTC"),
            ),
            [
                t("2024-01-01T00:00:00.123456Z"),
                t("9999-12-31T23:59:59.999999Z"),
            ],
            [
                s("2024-01-01 00:00:00.123456+00"),
                s("9999-12-31 23:59:59.999999+00"),
            ],
            [
                s("2024-01-01T00:00:00.123456Z"),
                s("9999-12-31T23:59:59.999999Z"),
            ],
        ),
        col(
            "ts_ns",
            Arc::new(
                TimestampNanosecondArray::from(vec![
                    Some(1_704_067_200_123_456_000),
                    Some(-1_000),
                    None,
                ])
                .with_timezone("+02:00"),
            ),
            [
                t("2024-01-01T00:00:00.123456Z"),
                t("1969-12-31T23:59:59.999999Z"),
            ],
            [
                s("2024-01-01 00:00:00.123456+00"),
                s("1969-12-31 23:59:59.999999+00"),
            ],
            [
                s("2024-01-01T00:00:00.123456Z"),
                s("1969-12-31T23:59:59.999999Z"),
            ],
        ),
        col(
            "dur_s",
            Arc::new(DurationSecondArray::from(vec![Some(3600), Some(-1), None])),
            [I(3_600_000_000), I(-1_000_000)],
            [s("01:00:00"), s("-00:00:01")],
            [json!(3_600_000_000i64), json!(-1_000_000)],
        ),
        col(
            "dur_ms",
            Arc::new(DurationMillisecondArray::from(vec![
                Some(1),
                Some(86_400_000),
                None,
            ])),
            [I(1_000), I(86_400_000_000)],
            [s("00:00:00.001"), s("24:00:00")],
            [json!(1_000), json!(86_400_000_000i64)],
        ),
        col(
            "dur_us",
            Arc::new(DurationMicrosecondArray::from(vec![Some(7), Some(0), None])),
            [I(7), I(0)],
            [s("00:00:00.000007"), s("00:00:00")],
            [json!(7), json!(0)],
        ),
        col(
            "dur_ns",
            Arc::new(DurationNanosecondArray::from(vec![
                Some(2_000),
                Some(-5_000),
                None,
            ])),
            [I(2), I(-5)],
            [s("00:00:00.000002"), s("-00:00:00.000005")],
            [json!(2), json!(-5)],
        ),
        col(
            "interval_mdn",
            Arc::new(IntervalMonthDayNanoArray::from(vec![
                Some(IntervalMonthDayNano::new(1, 2, 3_000)),
                Some(IntervalMonthDayNano::new(-14, 0, 3_600_000_000_000)),
                None,
            ])),
            [
                t(r#"{"months":1,"days":2,"nanoseconds":3000}"#),
                t(r#"{"months":-14,"days":0,"nanoseconds":3600000000000}"#),
            ],
            [
                s("1 mon 2 days 00:00:00.000003"),
                s("-1 years -2 mons +01:00:00"),
            ],
            [
                json!({"months": 1, "days": 2, "nanoseconds": 3000}),
                json!({"months": -14, "days": 0, "nanoseconds": 3_600_000_000_000i64}),
            ],
        ),
        col(
            "interval_ym",
            Arc::new(IntervalYearMonthArray::from(vec![Some(14), Some(-1), None])),
            [
                t(r#"{"months":14,"days":0,"nanoseconds":0}"#),
                t(r#"{"months":-1,"days":0,"nanoseconds":0}"#),
            ],
            [s("1 year 2 mons"), s("-1 mons")],
            [
                json!({"months": 14, "days": 0, "nanoseconds": 0}),
                json!({"months": -1, "days": 0, "nanoseconds": 0}),
            ],
        ),
        col(
            "interval_dt",
            Arc::new(IntervalDayTimeArray::from(vec![
                Some(IntervalDayTime::new(3, 4)),
                Some(IntervalDayTime::new(0, -1)),
                None,
            ])),
            [
                t(r#"{"months":0,"days":3,"nanoseconds":4000000}"#),
                t(r#"{"months":0,"days":0,"nanoseconds":-1000000}"#),
            ],
            [s("3 days 00:00:00.004"), s("-00:00:00.001")],
            [
                json!({"months": 0, "days": 3, "nanoseconds": 4_000_000}),
                json!({"months": 0, "days": 0, "nanoseconds": -1_000_000}),
            ],
        ),
        col(
            "binary",
            Arc::new(BinaryArray::from(vec![
                Some(&b"\x00\x01\xff"[..]),
                Some(&b""[..]),
                None,
            ])),
            [Blob(vec![0, 1, 255]), Blob(vec![])],
            [s("\\x0001ff"), s("\\x")],
            [s("AAH/"), s("")],
        ),
        col(
            "large_binary",
            Arc::new(LargeBinaryArray::from(vec![
                Some(&b"hello"[..]),
                Some(&b"\n,\""[..]),
                None,
            ])),
            [Blob(b"hello".to_vec()), Blob(b"\n,\"".to_vec())],
            [s("\\x68656c6c6f"), s("\\x0a2c22")],
            [s("aGVsbG8="), s("Ciwi")],
        ),
        col(
            "fixed_binary",
            Arc::new(
                FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                    vec![Some(vec![1u8, 2]), Some(vec![255, 0]), None].into_iter(),
                    2,
                )
                .unwrap(),
            ),
            [Blob(vec![1, 2]), Blob(vec![255, 0])],
            [s("\\x0102"), s("\\xff00")],
            [s("AQI="), s("/wA=")],
        ),
        col(
            "utf8",
            Arc::new(StringArray::from(vec![
                Some("héllo, \"world\""),
                Some(""),
                None,
            ])),
            [t("héllo, \"world\""), t("")],
            [s("héllo, \"world\""), s("")],
            [s("héllo, \"world\""), s("")],
        ),
        col(
            "large_utf8",
            Arc::new(LargeStringArray::from(vec![
                Some("big"),
                Some("line\nbreak"),
                None,
            ])),
            [t("big"), t("line\nbreak")],
            [s("big"), s("line\nbreak")],
            [s("big"), s("line\nbreak")],
        ),
        col(
            "list_utf8",
            {
                let mut b = ListBuilder::new(StringBuilder::new());
                b.append_value([Some("a"), None]);
                b.append_value::<[Option<&str>; 0], _>([]);
                b.append_null();
                Arc::new(b.finish())
            },
            [t(r#"["a",null]"#), t("[]")],
            [s("{a,NULL}"), s("{}")],
            [json!(["a", null]), json!([])],
        ),
        col(
            "list_i64",
            {
                let mut b = ListBuilder::new(Int64Builder::new());
                b.append_value([Some(1), None, Some(i64::MIN)]);
                b.append_value::<[Option<i64>; 0], _>([]);
                b.append_null();
                Arc::new(b.finish())
            },
            [t("[1,null,-9223372036854775808]"), t("[]")],
            [json!([1, null, i64::MIN]), json!([])],
            [json!([1, null, i64::MIN]), json!([])],
        ),
        col(
            "large_list_f64",
            Arc::new(LargeListArray::from_iter_primitive::<
                arrow_array::types::Float64Type,
                _,
                _,
            >(vec![
                Some(vec![Some(0.5), Some(-2.0)]),
                Some(vec![]),
                None,
            ])),
            [t("[0.5,-2.0]"), t("[]")],
            [json!([0.5, -2.0]), json!([])],
            [json!([0.5, -2.0]), json!([])],
        ),
        col(
            "list_list_i32",
            {
                let mut b = ListBuilder::new(ListBuilder::new(Int32Builder::new()));
                b.values().append_value([Some(1), Some(2)]);
                b.values().append_null();
                b.append(true);
                b.values().append_value([Some(3)]);
                b.append(true);
                b.append_null();
                Arc::new(b.finish())
            },
            [t("[[1,2],null]"), t("[[3]]")],
            [json!([[1, 2], null]), json!([[3]])],
            [json!([[1, 2], null]), json!([[3]])],
        ),
        col(
            "struct",
            Arc::new(
                StructArray::try_new(
                    Fields::from(vec![
                        Field::new("a", DataType::Int32, true),
                        Field::new("b", DataType::Utf8, true),
                        Field::new(
                            "c",
                            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                            true,
                        ),
                    ]),
                    vec![
                        Arc::new(Int32Array::from(vec![Some(1), None, Some(0)])),
                        Arc::new(StringArray::from(vec![Some("x"), Some("y"), None])),
                        Arc::new(
                            TimestampMicrosecondArray::from(vec![Some(1), None, None])
                                .with_timezone("UTC"),
                        ),
                    ],
                    Some(vec![true, true, false].into()),
                )
                .unwrap(),
            ),
            [
                t(r#"{"a":1,"b":"x","c":"1970-01-01T00:00:00.000001Z"}"#),
                t(r#"{"a":null,"b":"y","c":null}"#),
            ],
            [
                json!({"a": 1, "b": "x", "c": "1970-01-01T00:00:00.000001Z"}),
                json!({"a": null, "b": "y", "c": null}),
            ],
            [
                json!({"a": 1, "b": "x", "c": "1970-01-01T00:00:00.000001Z"}),
                json!({"a": null, "b": "y", "c": null}),
            ],
        ),
        col(
            "map",
            {
                let mut b = MapBuilder::new(None, StringBuilder::new(), Int64Builder::new());
                b.keys().append_value("k");
                b.values().append_value(1);
                b.keys().append_value("k");
                b.values().append_null();
                b.append(true).unwrap();
                b.append(true).unwrap();
                b.append(false).unwrap();
                Arc::new(b.finish())
            },
            [
                t(r#"[{"key":"k","value":1},{"key":"k","value":null}]"#),
                t("[]"),
            ],
            [
                json!([{"key": "k", "value": 1}, {"key": "k", "value": null}]),
                json!([]),
            ],
            [
                json!([{"key": "k", "value": 1}, {"key": "k", "value": null}]),
                json!([]),
            ],
        ),
        with_meta(
            col(
                "uuid",
                Arc::new(
                    FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                        vec![Some(uuid.as_bytes().to_vec()), Some(vec![0; 16]), None].into_iter(),
                        16,
                    )
                    .unwrap(),
                ),
                [t(UUID), t("00000000-0000-0000-0000-000000000000")],
                [s(UUID), s("00000000-0000-0000-0000-000000000000")],
                [s(UUID), s("00000000-0000-0000-0000-000000000000")],
            ),
            ext(cq::UUID_EXTENSION, cq::UUID_EXTENSION_METADATA),
        ),
        with_meta(
            col(
                "json",
                Arc::new(BinaryArray::from(vec![
                    Some(&br#"{"a":[1,2.5,"x"],"b":null}"#[..]),
                    Some(&b"12345678901234567890"[..]),
                    None,
                ])),
                [
                    t(r#"{"a":[1,2.5,"x"],"b":null}"#),
                    t("12345678901234567890"),
                ],
                [
                    json!({"a": [1, 2.5, "x"], "b": null}),
                    json!(12345678901234567890u64),
                ],
                [
                    json!({"a": [1, 2.5, "x"], "b": null}),
                    json!(12345678901234567890u64),
                ],
            ),
            ext(cq::JSON_EXTENSION, cq::JSON_EXTENSION_METADATA),
        ),
        with_meta(
            col(
                "inet",
                Arc::new(BinaryArray::from(vec![
                    Some(&b"192.168.0.1/24"[..]),
                    Some(&b"2001:db8::1/128"[..]),
                    None,
                ])),
                [t("192.168.0.1/24"), t("2001:db8::1/128")],
                // PostgreSQL prints a binary-received /128 with its mask.
                [s("192.168.0.1/24"), s("2001:db8::1/128")],
                [s("192.168.0.1/24"), s("2001:db8::1/128")],
            ),
            ext("inet", "inet-serialized"),
        ),
        with_meta(
            col(
                "mac",
                Arc::new(BinaryArray::from(vec![
                    Some(&MAC[..]),
                    Some(&[0u8; 6][..]),
                    None,
                ])),
                [t("08:00:2b:01:02:03"), t("00:00:00:00:00:00")],
                [s("08:00:2b:01:02:03"), s("00:00:00:00:00:00")],
                [s("08:00:2b:01:02:03"), s("00:00:00:00:00:00")],
            ),
            ext("mac", "mac-serialized"),
        ),
    ];
    // A large list of large strings goes to the core list<utf8> kind.
    v.push({
        let values = LargeStringArray::from(vec![Some("x"), Some("y"), Some("z")]);
        let offsets = arrow_buffer::OffsetBuffer::new(vec![0i64, 2, 3, 3].into());
        let field = Arc::new(Field::new("item", DataType::LargeUtf8, true));
        let array = LargeListArray::new(
            field,
            offsets,
            Arc::new(values),
            Some(vec![true, true, false].into()),
        );
        col(
            "large_list_utf8",
            Arc::new(array),
            [t(r#"["x","y"]"#), t(r#"["z"]"#)],
            [s("{x,y}"), s("{z}")],
            [json!(["x", "y"]), json!(["z"])],
        )
    });
    if big_u64 {
        v.push(col(
            "u64_big",
            Arc::new(UInt64Array::from(vec![Some(0), Some(u64::MAX), None])),
            [I(0), I(0)],
            [s("0"), s("18446744073709551615")],
            [json!(0), json!(u64::MAX)],
        ));
        v.push(col(
            "decimal38",
            Arc::new(
                Decimal128Array::from(vec![Some(i128::MAX / 10), Some(-1), None])
                    .with_precision_and_scale(38, 10)
                    .unwrap(),
            ),
            [t("0"), t("0")],
            [
                s("1701411834604692317316873037.1588410572"),
                s("-0.0000000001"),
            ],
            [
                s("1701411834604692317316873037.1588410572"),
                s("-0.0000000001"),
            ],
        ));
    }
    v
}

fn batch(table: &str, cols: &[Col]) -> RecordBatch {
    let mut fields = vec![cq::field("id", cq::ColumnKind::Utf8, true, true)];
    fields.extend(cols.iter().map(|c| c.field.clone()));
    let schema = Schema::new_with_metadata(
        fields,
        HashMap::from([(cq::META_TABLE_NAME.to_string(), table.to_string())]),
    );
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(StringArray::from(vec!["r0", "r1", "r2"]))];
    arrays.extend(cols.iter().map(|c| c.array.clone()));
    RecordBatch::try_new(Arc::new(schema), arrays).unwrap()
}

async fn send(sink: &mut Box<dyn Sink>, b: &RecordBatch) {
    let schema: SchemaRef = b.schema();
    sink.migrate(schema).await.unwrap();
    sink.write(b.clone()).await.unwrap();
    sink.flush().await.unwrap();
}

#[tokio::test]
async fn every_arrow_type_into_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let spec = json!({"connection_string": db.to_str().unwrap()});
    let mut sink = open(
        "cloudquery/sqlite",
        &spec,
        WriteMode::default(),
        MigrateMode::default(),
    )
    .await
    .unwrap();
    let cols = columns(false);
    send(&mut sink, &batch("every_type", &cols)).await;
    drop(sink);
    let conn = rusqlite::Connection::open(&db).unwrap();
    for c in &cols {
        let name = c.field.name();
        let mut stmt = conn
            .prepare(&format!("SELECT \"{name}\" FROM every_type ORDER BY id"))
            .unwrap();
        let got: Vec<rusqlite::types::Value> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(&got[..2], &c.sqlite[..], "SQLite column {name}");
        assert_eq!(got[2], rusqlite::types::Value::Null, "SQLite column {name}");
    }
}

#[tokio::test]
async fn values_sqlite_cannot_hold_are_errors_naming_table_column_and_row() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let spec = json!({"connection_string": db.to_str().unwrap()});
    for (name, array) in [
        (
            "big",
            Arc::new(UInt64Array::from(vec![Some(1), None, Some(u64::MAX)])) as ArrayRef,
        ),
        (
            "nan",
            Arc::new(Float64Array::from(vec![Some(1.0), None, Some(f64::NAN)])),
        ),
    ] {
        let mut sink = open(
            "cloudquery/sqlite",
            &spec,
            WriteMode::default(),
            MigrateMode::default(),
        )
        .await
        .unwrap();
        let b = batch(
            &format!("t_{name}"),
            &[col(
                name,
                array,
                [rusqlite::types::Value::Null, rusqlite::types::Value::Null],
                [Value::Null, Value::Null],
                [Value::Null, Value::Null],
            )],
        );
        sink.migrate(b.schema()).await.unwrap();
        let e = sink.write(b).await.expect_err("must fail").to_string();
        assert!(
            e.contains(&format!("table t_{name}"))
                && e.contains(&format!("column \"{name}\" row 2")),
            "{e}"
        );
    }
}

#[tokio::test]
async fn sub_microsecond_values_are_errors_not_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let spec = json!({"connection_string": db.to_str().unwrap()});
    let mut sink = open(
        "cloudquery/sqlite",
        &spec,
        WriteMode::default(),
        MigrateMode::default(),
    )
    .await
    .unwrap();
    let b = batch(
        "t_ns",
        &[col(
            "ts",
            Arc::new(TimestampNanosecondArray::from(vec![
                Some(1_000),
                Some(1_001),
                None,
            ])),
            [rusqlite::types::Value::Null, rusqlite::types::Value::Null],
            [Value::Null, Value::Null],
            [Value::Null, Value::Null],
        )],
    );
    sink.migrate(b.schema()).await.unwrap();
    let e = sink.write(b).await.expect_err("must fail").to_string();
    assert!(
        e.contains("table t_ns") && e.contains("column \"ts\" row 1"),
        "{e}"
    );
}

fn pg_url() -> String {
    std::env::var("ENTRASYNC_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

#[tokio::test]
async fn every_arrow_type_into_postgres() {
    let table = format!("every_type_{}", std::process::id());
    let spec = json!({"connection_string": pg_url()});
    let mut sink = open(
        "cloudquery/postgresql",
        &spec,
        WriteMode::default(),
        MigrateMode::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("this test needs PostgreSQL at {}: {e}", pg_url()));
    let cols = columns(true);
    let (client, conn) = tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS \"{table}\"; SET TimeZone = 'UTC'"
        ))
        .await
        .unwrap();
    send(&mut sink, &batch(&table, &cols)).await;
    // Once more: the upsert path (staging table of the same types) must take every type too.
    send(&mut sink, &batch(&table, &cols)).await;
    for c in &cols {
        let name = c.field.name();
        let rows = client
            .query(
                &format!(
                    "SELECT \"{name}\"::text, pg_typeof(\"{name}\")::text FROM \"{table}\" ORDER BY id"
                ),
                &[],
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 3);
        for (i, want) in c.pg.iter().enumerate() {
            let got: Option<String> = rows[i].get(0);
            let pg_type: String = rows[i].get(1);
            let got = got.unwrap_or_else(|| panic!("PostgreSQL column {name} row {i} is NULL"));
            if pg_type == "jsonb" {
                let got: Value = serde_json::from_str(&got).unwrap();
                assert_eq!(&got, want, "PostgreSQL column {name} ({pg_type}) row {i}");
            } else {
                assert_eq!(
                    Value::String(got),
                    *want,
                    "PostgreSQL column {name} ({pg_type}) row {i}"
                );
            }
        }
        assert!(
            rows[2].get::<_, Option<String>>(0).is_none(),
            "{name} row 2"
        );
    }
    // Deleting by a key of a type that binds as text.
    client
        .batch_execute(&format!("DROP TABLE \"{table}\""))
        .await
        .unwrap();
}

fn file_sink_spec(dir: &std::path::Path, format: &str) -> Value {
    json!({
        "path": dir.join("{{TABLE}}.{{FORMAT}}").to_str().unwrap(),
        "format": format,
        "no_rotate": true,
    })
}

#[tokio::test]
async fn every_arrow_type_into_json_and_csv_files() {
    let cols = columns(true);
    for format in ["json", "csv"] {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = open(
            "cloudquery/file",
            &file_sink_spec(dir.path(), format),
            WriteMode::default(),
            MigrateMode::default(),
        )
        .await
        .unwrap();
        send(&mut sink, &batch("every_type", &cols)).await;
        let text =
            std::fs::read_to_string(dir.path().join(format!("every_type.{format}"))).unwrap();
        if format == "json" {
            let lines: Vec<Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert_eq!(lines.len(), 3);
            for c in &cols {
                let name = c.field.name();
                for (i, want) in c.json.iter().enumerate() {
                    assert_eq!(&lines[i][name.as_str()], want, "json column {name} row {i}");
                }
                assert_eq!(
                    lines[2][name.as_str()],
                    Value::Null,
                    "json column {name} row 2"
                );
            }
        } else {
            let records = parse_csv(&text);
            assert_eq!(records.len(), 4, "header and three rows");
            for (j, c) in cols.iter().enumerate() {
                let name = c.field.name();
                assert_eq!(records[0][j + 1], *name);
                for (i, want) in c.json.iter().enumerate() {
                    let want = match want {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    assert_eq!(records[i + 1][j + 1], want, "csv column {name} row {i}");
                }
                assert_eq!(records[3][j + 1], "", "csv column {name} row 2");
            }
        }
    }
}

/// RFC 4180 records (quoted fields may hold commas, quotes and newlines).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        match (quoted, ch) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    records
}

#[tokio::test]
async fn every_arrow_type_into_parquet() {
    let cols = columns(true);
    let dir = tempfile::tempdir().unwrap();
    let mut sink = open(
        "cloudquery/file",
        &file_sink_spec(dir.path(), "parquet"),
        WriteMode::default(),
        MigrateMode::default(),
    )
    .await
    .unwrap();
    let sent = batch("every_type", &cols);
    send(&mut sink, &sent).await;
    let file = std::fs::File::open(dir.path().join("every_type.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let got: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
    let got = arrow_select::concat::concat_batches(&got[0].schema(), &got).unwrap();
    assert_eq!(got.num_rows(), 3);
    for (j, f) in sent.schema().fields().iter().enumerate() {
        let back = got.column_by_name(f.name()).unwrap();
        if f.name() == "interval_mdn" {
            // Parquet has no month-day-nano interval: a struct of the three parts.
            let s = back.as_any().downcast_ref::<StructArray>().unwrap();
            let part = |n: &str| s.column_by_name(n).unwrap().to_data();
            assert_eq!(part("months"), Int32Array::from(vec![1, -14, 0]).to_data());
            assert_eq!(part("days"), Int32Array::from(vec![2, 0, 0]).to_data());
            assert_eq!(
                part("nanoseconds"),
                Int64Array::from(vec![3_000, 3_600_000_000_000, 0]).to_data()
            );
            assert!(s.is_valid(0) && s.is_valid(1) && s.is_null(2));
            continue;
        }
        // Parquet has no date64 and no seconds: stored as date32 and milliseconds, exactly.
        let want = match f.data_type() {
            DataType::Date64 => DataType::Date32,
            DataType::Timestamp(TimeUnit::Second, tz) => {
                DataType::Timestamp(TimeUnit::Millisecond, tz.clone())
            }
            other => other.clone(),
        };
        assert_eq!(back.data_type(), &want, "parquet column {} type", f.name());
        let sent_values = arrow_cast::cast(sent.column(j), &want).unwrap();
        assert_eq!(
            back.to_data(),
            sent_values.to_data(),
            "parquet column {} values",
            f.name()
        );
        let meta = got
            .schema()
            .field_with_name(f.name())
            .unwrap()
            .metadata()
            .clone();
        assert_eq!(
            meta.get(cq::EXTENSION_NAME),
            f.metadata().get(cq::EXTENSION_NAME),
            "parquet column {} extension",
            f.name()
        );
    }
}

#[tokio::test]
async fn postgres_uint64_into_an_existing_bigint_column() {
    // State tables created before uint64 became numeric(20,0) keep their bigint `version`.
    let table = format!("legacy_state_{}", std::process::id());
    let (client, conn) = tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("this test needs PostgreSQL at {}: {e}", pg_url()));
    tokio::spawn(conn);
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS \"{table}\"; CREATE TABLE \"{table}\" \
             (\"key\" text NOT NULL PRIMARY KEY, \"value\" text, \"version\" bigint)"
        ))
        .await
        .unwrap();
    let spec = json!({"connection_string": pg_url()});
    let mut sink = open(
        "cloudquery/postgresql",
        &spec,
        WriteMode::default(),
        MigrateMode::default(),
    )
    .await
    .unwrap();
    let schema = Arc::new(cq::state_schema(&table));
    sink.migrate(schema.clone()).await.unwrap();
    let state = |version: u64| {
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["k"])),
                Arc::new(StringArray::from(vec!["v"])),
                Arc::new(UInt64Array::from(vec![version])),
            ],
        )
        .unwrap()
    };
    sink.write(state(5)).await.unwrap();
    sink.flush().await.unwrap();
    let row = client
        .query_one(
            &format!("SELECT \"version\", pg_typeof(\"version\")::text FROM \"{table}\""),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 5);
    assert_eq!(row.get::<_, String>(1), "bigint");
    sink.write(state(u64::MAX)).await.unwrap();
    let e = sink
        .flush()
        .await
        .expect_err("u64::MAX does not fit bigint")
        .to_string();
    assert!(
        e.contains(&format!("table {table}")) && e.contains("column \"version\" row 0"),
        "{e}"
    );
    client
        .batch_execute(&format!("DROP TABLE \"{table}\""))
        .await
        .unwrap();
}

/// Month-day-nano intervals (and date64, timestamps in seconds) inside a list, a struct and a
/// map go to parquet as at the top level: an interval as the struct `{months, days,
/// nanoseconds}`, every part and every null where it was sent.
#[tokio::test]
async fn nested_intervals_into_parquet() {
    use arrow_array::cast::AsArray;
    use arrow_buffer::{NullBuffer, OffsetBuffer};
    let iv = |m, d, n| Some(IntervalMonthDayNano::new(m, d, n));
    let intervals = || -> ArrayRef {
        Arc::new(IntervalMonthDayNanoArray::from(vec![
            iv(1, 2, 3_000),
            None,
            iv(-14, 0, 3_600_000_000_000),
        ]))
    };
    let item = Arc::new(Field::new(
        "item",
        DataType::Interval(arrow_schema::IntervalUnit::MonthDayNano),
        true,
    ));
    // Rows: [1 2 3µs, null], null, [-14 months 1h].
    let list: ArrayRef = Arc::new(ListArray::new(
        item.clone(),
        OffsetBuffer::from_lengths([2, 0, 1]),
        intervals(),
        Some(NullBuffer::from(vec![true, false, true])),
    ));
    let s = StructArray::from(vec![
        (
            Arc::new(Field::new("every", item.data_type().clone(), true)),
            intervals(),
        ),
        (
            Arc::new(Field::new("on", DataType::Date64, true)),
            Arc::new(Date64Array::from(vec![Some(86_400_000), None, Some(0)])) as ArrayRef,
        ),
        (
            Arc::new(Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Second, Some("UTC".into())),
                true,
            )),
            Arc::new(TimestampSecondArray::from(vec![Some(1), None, Some(-1)]).with_timezone("UTC"))
                as ArrayRef,
        ),
    ]);
    let entries = StructArray::from(vec![
        (
            Arc::new(Field::new("key", DataType::Utf8, false)),
            Arc::new(StringArray::from(vec!["a", "b", "c"])) as ArrayRef,
        ),
        (
            Arc::new(Field::new("value", item.data_type().clone(), true)),
            intervals(),
        ),
    ]);
    let map: ArrayRef = Arc::new(
        MapArray::try_new(
            Arc::new(Field::new("entries", entries.data_type().clone(), false)),
            OffsetBuffer::from_lengths([1, 1, 1]),
            entries,
            None,
            false,
        )
        .unwrap(),
    );
    let cols: Vec<Col> = [
        ("in_list", list),
        ("in_struct", Arc::new(s) as ArrayRef),
        ("in_map", map),
    ]
    .into_iter()
    .map(|(name, array)| Col {
        field: Field::new(name, array.data_type().clone(), true),
        array,
        sqlite: [rusqlite::types::Value::Null, rusqlite::types::Value::Null],
        pg: [Value::Null, Value::Null],
        json: [Value::Null, Value::Null],
    })
    .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut sink = open(
        "cloudquery/file",
        &file_sink_spec(dir.path(), "parquet"),
        WriteMode::default(),
        MigrateMode::default(),
    )
    .await
    .unwrap();
    send(&mut sink, &batch("nested_iv", &cols)).await;
    let file = std::fs::File::open(dir.path().join("nested_iv.parquet")).unwrap();
    let got: Vec<RecordBatch> =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let got = &got[0];
    // The interval parts of a struct array, nulls as None.
    let parts = |a: &dyn Array| -> Vec<Option<(i32, i32, i64)>> {
        let s = a.as_struct();
        let m = s
            .column_by_name("months")
            .unwrap()
            .as_primitive::<arrow_array::types::Int32Type>();
        let d = s
            .column_by_name("days")
            .unwrap()
            .as_primitive::<arrow_array::types::Int32Type>();
        let n = s
            .column_by_name("nanoseconds")
            .unwrap()
            .as_primitive::<arrow_array::types::Int64Type>();
        (0..s.len())
            .map(|i| s.is_valid(i).then(|| (m.value(i), d.value(i), n.value(i))))
            .collect()
    };
    let sent = vec![Some((1, 2, 3_000)), None, Some((-14, 0, 3_600_000_000_000))];

    let list = got.column_by_name("in_list").unwrap().as_list::<i32>();
    assert_eq!(list.offsets().as_ref(), [0, 2, 2, 3]);
    assert!(list.is_valid(0) && list.is_null(1) && list.is_valid(2));
    assert_eq!(parts(list.values().as_ref()), sent);

    let s = got.column_by_name("in_struct").unwrap().as_struct();
    assert_eq!(parts(s.column_by_name("every").unwrap().as_ref()), sent);
    let on = s.column_by_name("on").unwrap();
    assert_eq!(on.data_type(), &DataType::Date32);
    assert_eq!(
        on.to_data(),
        Date32Array::from(vec![Some(1), None, Some(0)]).to_data()
    );
    let at = s.column_by_name("at").unwrap();
    assert_eq!(
        at.to_data(),
        TimestampMillisecondArray::from(vec![Some(1_000), None, Some(-1_000)])
            .with_timezone("UTC")
            .to_data()
    );

    let map = got.column_by_name("in_map").unwrap().as_map();
    assert_eq!(
        map.keys().as_string::<i32>().iter().collect::<Vec<_>>(),
        [Some("a"), Some("b"), Some("c")]
    );
    assert_eq!(parts(map.values().as_ref()), sent);
}

/// The columns `Read` gives back typed as written: every integer width, float32, timestamps of
/// every unit and zone, large strings and large lists of strings (rows: typical, extreme, null).
fn readable_columns() -> Vec<(Field, ArrayRef)> {
    let mut large = arrow_array::builder::LargeListBuilder::new(
        arrow_array::builder::LargeStringBuilder::new(),
    );
    large.values().append_value("a");
    large.values().append_null();
    large.append(true);
    large.append(true);
    large.append(false);
    let arrays: Vec<(&str, ArrayRef)> = vec![
        (
            "i8",
            Arc::new(Int8Array::from(vec![Some(1), Some(i8::MIN), None])),
        ),
        (
            "i16",
            Arc::new(Int16Array::from(vec![Some(1), Some(i16::MAX), None])),
        ),
        (
            "i32",
            Arc::new(Int32Array::from(vec![Some(-1), Some(i32::MIN), None])),
        ),
        (
            "u8",
            Arc::new(UInt8Array::from(vec![Some(1), Some(u8::MAX), None])),
        ),
        (
            "u16",
            Arc::new(UInt16Array::from(vec![Some(1), Some(u16::MAX), None])),
        ),
        (
            "u32",
            Arc::new(UInt32Array::from(vec![Some(1), Some(u32::MAX), None])),
        ),
        (
            "u64",
            Arc::new(UInt64Array::from(vec![
                Some(1),
                Some(i64::MAX as u64),
                None,
            ])),
        ),
        (
            "f32",
            Arc::new(Float32Array::from(vec![Some(1.5), Some(f32::MAX), None])),
        ),
        (
            "ts_s",
            Arc::new(TimestampSecondArray::from(vec![
                Some(1_700_000_000),
                Some(-1),
                None,
            ])),
        ),
        (
            "ts_ms_zoned",
            Arc::new(
                TimestampMillisecondArray::from(vec![Some(1_700_000_000_123), Some(0), None])
                    .with_timezone("+02:00"),
            ),
        ),
        (
            "ts_ns",
            Arc::new(
                TimestampNanosecondArray::from(vec![
                    Some(1_700_000_000_123_456_000),
                    Some(-1_000),
                    None,
                ])
                .with_timezone("UTC"),
            ),
        ),
        (
            "large_utf8",
            Arc::new(LargeStringArray::from(vec![Some("x"), Some(""), None])),
        ),
        ("large_list", Arc::new(large.finish())),
    ];
    arrays
        .into_iter()
        .map(|(name, a)| (Field::new(name, a.data_type().clone(), true), a))
        .collect()
}

async fn read_returns_the_sent_types(path: &str, spec: Value, table: &str) {
    let cols: Vec<Col> = readable_columns()
        .into_iter()
        .map(|(field, array)| Col {
            field,
            array,
            sqlite: [rusqlite::types::Value::Null, rusqlite::types::Value::Null],
            pg: [Value::Null, Value::Null],
            json: [Value::Null, Value::Null],
        })
        .collect();
    let sent = batch(table, &cols);
    let mut sink = open(path, &spec, WriteMode::default(), MigrateMode::default())
        .await
        .unwrap();
    send(&mut sink, &sent).await;
    let got = sink.read(sent.schema()).await.unwrap();
    assert_eq!(got.len(), 1);
    let mut got = got[0].clone();
    // Rows in the order of their key, as sent.
    let ids = got
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let mut order: Vec<u32> = (0..ids.len() as u32).collect();
    order.sort_by_key(|i| ids.value(*i as usize).to_string());
    got = arrow_select::take::take_record_batch(&got, &UInt32Array::from(order)).unwrap();
    assert_eq!(got.schema(), sent.schema());
    for (j, f) in sent.schema().fields().iter().enumerate() {
        assert_eq!(
            got.column(j).to_data(),
            sent.column(j).to_data(),
            "{path}: column {}",
            f.name()
        );
    }
}

#[tokio::test]
async fn read_returns_the_sent_types_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    read_returns_the_sent_types(
        "cloudquery/sqlite",
        json!({"connection_string": db.to_str().unwrap()}),
        "typed_read",
    )
    .await;
}

#[tokio::test]
async fn read_returns_the_sent_types_postgres() {
    let table = format!("typed_read_{:08x}", rand::random::<u32>());
    let url = pg_url();
    read_returns_the_sent_types(
        "cloudquery/postgresql",
        json!({"connection_string": url}),
        &table,
    )
    .await;
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(&format!("DROP TABLE \"{table}\""))
        .await
        .unwrap();
}
