"""Reading files into rows: every format, the line each row starts on, and every strict rejection."""

import gzip
import json
import math
import random
import re
import time
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labeler.formats import strict_json
from labeler.formats.reading import detect_format, read_rows
from labeler.formats.source_rows import BadRow, FileFormatError, SourceRow
from labeler.formats.strict_json import MAX_DEPTH, MAX_TEXT_CHARS, strict_json_loads

ROW = {"prompt": "Say hi", "answers": ["hi", "hello"]}
ROW_TEXT = json.dumps(ROW)


def write(directory: Path, name: str, content: str | bytes) -> Path:
    path = directory / name
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def lines_and_kinds(rows) -> list[tuple[int, str]]:
    return [(row.line, type(row).__name__) for row in rows]


# --- strict JSON -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"a": 1 "b": 2}', "invalid JSON: Expecting ',' delimiter (column 9)"),
        ('{"prompt": "x", "prompt": "y"}', "duplicate key 'prompt'"),
        ('{"a": [{"k": 1, "k": 2}]}', "duplicate key 'k'"),
        ('{"a": NaN}', "NaN is not allowed"),
        ('{"a": Infinity}', "Infinity is not allowed"),
        ('{"a": -Infinity}', "-Infinity is not allowed"),
        ('{"a": 1e400}', "the number 1e400 is too large"),
        ('{"a": "\\ud800"}', "lone surrogate in a string"),
        ('{"a": ["ok", "x\\uDC00y"]}', "lone surrogate in a string"),
        ('{"\\ud83d": 1}', "lone surrogate in a string"),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), f"nested deeper than {MAX_DEPTH} levels"),
        ('{"a": "' + "x" * (MAX_TEXT_CHARS + 1) + '"}', "a string is longer than 1,000,000 characters"),
    ],
)
def test_strict_json_refuses(text, reason):
    with pytest.raises(ValueError, match=f"^{re.escape(reason)}$"):
        strict_json_loads(text)


def test_strict_json_accepts_what_it_should():
    assert strict_json_loads('{"emoji": "\\ud83d\\ude00"}') == {"emoji": "\U0001f600"}
    assert strict_json_loads('{"path": "C:\\\\ud800"}') == {"path": "C:\\ud800"}  # an escaped backslash
    assert strict_json_loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    assert strict_json_loads('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}')["a"].startswith("[")
    assert strict_json_loads('{"t": 0.7, "big": 1e300}') == {"t": 0.7, "big": 1e300}
    assert strict_json_loads('{"a": "' + "x" * MAX_TEXT_CHARS + '"}')["a"] == "x" * MAX_TEXT_CHARS


@pytest.mark.parametrize(
    "text",
    [
        '{"a" : 1, "a": 2}',  # whitespace before the colon
        '{"a": "x: y", "a": 2}',  # a colon inside a string
        '{"a": "say \\": no", "b": {"k": 1, "k": 1}}',  # an escaped quote before a colon; nested
        '{"a": 1, "\\u0061": 2}',  # the same key, spelled with an escape
        '{"a":\t1,\r\n"a"\n:\n2}',
        '{"a": NaN}',
        '{"a": 1e400}',
        '{"a": "\\ud800"}',
        "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
        '{"a": "' + "x" * (MAX_TEXT_CHARS + 1) + '"}',
        '{"a": 123456789012345678901234567890}',  # orjson would make it a float
        '{"a": -9223372036854775809}',
    ],
)
def test_the_fast_parser_leaves_every_doubtful_text_to_the_strict_one(text):
    assert strict_json.decode_fast(text) is None
    assert strict_json.decode_fast(text.encode()) is None


def test_integers_beyond_64_bits_stay_exact():
    assert strict_json_loads('{"a": 123456789012345678901234567890}') == {"a": 123456789012345678901234567890}
    assert strict_json_loads("[-9223372036854775809, 18446744073709551615]") == [
        -9223372036854775809,
        18446744073709551615,
    ]


# Texts of JSON with what makes parsers differ: repeated keys, escapes, colons and quotes in strings,
# whitespace around colons, huge and tiny numbers, deep nesting, NaN spelled out.
_KEYS = st.sampled_from(["a", "b", "a:", 'q"', "\\", "é", "\ud83d\ude00"])
_TOKENS = ("NaN", "Infinity", "-Infinity", "1e400", "-0", "-0.0", "1E+2", '"\\ud800"', '"\\u0061:"', '"\\""')
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(_TOKENS),
    st.text(alphabet=st.sampled_from([*'ab :"\\{}[]é', "\n", "\u2028"]), max_size=8),
)
_SPACES = st.sampled_from(["", " ", "\n", " \t\r\n "])


def _json_texts():
    def scalar_text(value):
        return value if value in _TOKENS else json.dumps(value, ensure_ascii=False)

    def extend(children):
        objects = st.lists(st.tuples(_KEYS, children, _SPACES), max_size=4).map(
            lambda pairs: "{" + ", ".join(f"{json.dumps(k)}{space}:{space}{v}" for k, v, space in pairs) + "}"
        )
        arrays = st.lists(children, max_size=4).map(lambda items: "[" + ",".join(items) + "]")
        return objects | arrays

    return st.recursive(_SCALARS.map(scalar_text), extend, max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(text=_json_texts(), nesting=st.integers(min_value=0, max_value=MAX_DEPTH + 2))
def test_the_fast_parser_agrees_with_the_strict_one_whenever_it_answers(text, nesting):
    text = "[" * nesting + text + "]" * nesting
    fast = strict_json.decode_fast(text.encode("utf-8", "surrogatepass"))
    try:
        strict = strict_json.decode_strict(text)
    except ValueError:
        assert fast is None
        return
    if fast is not None:
        assert repr(fast) == repr(strict)  # the same value, the same types (1 is not 1.0)


def test_brackets_in_an_unterminated_string_do_not_count_as_nesting():
    with pytest.raises(ValueError, match="Unterminated string"):
        strict_json_loads('{"a": "' + "[" * 100)


# --- jsonl -------------------------------------------------------------------------------------


def test_jsonl_rows_keep_their_line_numbers_skip_blank_lines_and_allow_a_bom(tmp_path):
    path = write(tmp_path, "rows.jsonl", "\ufeff" + ROW_TEXT + "\n\n   \n" + ROW_TEXT + "\r\n" + ROW_TEXT)
    rows = list(read_rows(path))
    assert rows == [SourceRow(str(path), line, ROW) for line in (1, 4, 5)]


def test_jsonl_file_is_the_path_as_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "rows.jsonl", ROW_TEXT + "\n")
    assert [row.file for row in read_rows("rows.jsonl")] == ["rows.jsonl"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"prompt": "x" "answers": []}', "invalid JSON: Expecting ',' delimiter (column 16)"),
        ('{"prompt": "x", "prompt": "y"}', "duplicate key 'prompt'"),
        ('{"prompt": NaN}', "NaN is not allowed"),
        ('{"prompt": "\\ud800"}', "lone surrogate in a string"),
        ("[" * 40 + "]" * 40, "nested deeper than 32 levels"),
        ('["prompt", "answers"]', "a row must be a JSON object, got a list"),
        ('"just text"', "a row must be a JSON object, got text"),
        ("42", "a row must be a JSON object, got a number"),
    ],
)
def test_each_bad_jsonl_line_is_a_bad_row_at_its_line(tmp_path, line, reason):
    path = write(tmp_path, "rows.jsonl", f"{ROW_TEXT}\n\n{line}\n{ROW_TEXT}\n")
    rows = list(read_rows(path))
    assert rows == [
        SourceRow(str(path), 1, ROW),
        BadRow(str(path), 3, reason, line),
        SourceRow(str(path), 4, ROW),
    ]


def test_invalid_utf8_on_one_line_is_a_bad_row_for_that_line_only(tmp_path):
    content = ROW_TEXT.encode() + b'\n{"prompt": "caf\xe9"}\n' + ROW_TEXT.encode() + b"\n"
    path = write(tmp_path, "rows.jsonl", content)
    rows = list(read_rows(path))
    assert lines_and_kinds(rows) == [(1, "SourceRow"), (2, "BadRow"), (3, "SourceRow")]
    assert rows[1].reason == "invalid UTF-8 at byte 16 of the line"
    assert rows[1].raw == '{"prompt": "caf\ufffd"}'


def test_a_line_of_100000_open_brackets_is_a_bad_row_quickly(tmp_path):
    path = write(tmp_path, "deep.jsonl", ROW_TEXT + "\n" + "[" * 100_000 + "\n" + ROW_TEXT + "\n")
    started = time.perf_counter()
    rows = list(read_rows(path))
    assert time.perf_counter() - started < 1.0
    assert lines_and_kinds(rows) == [(1, "SourceRow"), (2, "BadRow"), (3, "SourceRow")]
    assert rows[1].reason == "nested deeper than 32 levels"


def test_a_string_over_the_cap_is_a_bad_row(tmp_path):
    long_row = json.dumps({"prompt": "x" * (MAX_TEXT_CHARS + 1), "answers": ["a", "b"]})
    path = write(tmp_path, "long.jsonl", long_row + "\n" + ROW_TEXT + "\n")
    rows = list(read_rows(path))
    assert rows[0] == BadRow(str(path), 1, "a string is longer than 1,000,000 characters", long_row)
    assert rows[1] == SourceRow(str(path), 2, ROW)


# --- json list ---------------------------------------------------------------------------------


def test_json_list_reports_the_line_where_each_element_starts(tmp_path):
    pretty = json.dumps([ROW, {"id": 7, **ROW}, ROW], indent=2)
    path = write(tmp_path, "rows.json", "\ufeff\n" + pretty + "\n")
    rows = list(read_rows(path))
    starts = [number for number, text in enumerate(("\n" + pretty).splitlines(), 1) if text == "  {"]
    assert starts == [3, 10, 18]
    assert rows == [
        SourceRow(str(path), 3, ROW),
        SourceRow(str(path), 10, {"id": 7, **ROW}),
        SourceRow(str(path), 18, ROW),
    ]


def test_a_bad_element_of_a_json_list_is_a_bad_row_and_reading_goes_on(tmp_path):
    content = (
        "[\n"
        f"  {ROW_TEXT},\n"
        '  {"prompt": "x",\n'
        '   "prompt": "y"},\n'
        '  {"prompt": "a",\n'
        '   "answers": ["b" "c"]},\n'
        "  " + "[" * 50 + "]" * 50 + ",\n"
        '  "not an object",\n'
        '  {"a": NaN},\n'
        f"  {ROW_TEXT}\n"
        "]\n"
    )
    path = write(tmp_path, "rows.json", content)
    rows = list(read_rows(path))
    assert lines_and_kinds(rows) == [
        (2, "SourceRow"),
        (3, "BadRow"),
        (5, "BadRow"),
        (7, "BadRow"),
        (8, "BadRow"),
        (9, "BadRow"),
        (10, "SourceRow"),
    ]
    assert [row.reason for row in rows if isinstance(row, BadRow)] == [
        "duplicate key 'prompt'",
        "invalid JSON: Expecting ',' delimiter (line 6, column 20)",
        "nested deeper than 32 levels",
        "a row must be a JSON object, got text",
        "NaN is not allowed",
    ]
    assert rows[1].raw == '{"prompt": "x",\n   "prompt": "y"}'


def test_brackets_and_escaped_quotes_inside_strings_do_not_split_json_list_elements(tmp_path):
    tricky = {"prompt": 'say "[" and {', "answers": ["\\", '\\"]}', "]]]"]}
    content = "[" + json.dumps(tricky) + ",\n" + json.dumps(tricky) + "]"
    # In the file: escaped quotes (\"), and a string that ends in an escaped backslash ("\\").
    assert '\\"[\\"' in content
    assert '"\\\\"' in content
    rows = list(read_rows(write(tmp_path, "rows.json", content)))
    assert [(row.line, row.data) for row in rows] == [(1, tricky), (2, tricky)]


def test_json_list_with_a_100000_deep_element_is_read_quickly(tmp_path):
    path = write(tmp_path, "deep.json", "[" + "[" * 100_000 + "]" * 100_000 + f", {ROW_TEXT}]")
    started = time.perf_counter()
    rows = list(read_rows(path))
    assert time.perf_counter() - started < 1.0
    assert lines_and_kinds(rows) == [(1, "BadRow"), (1, "SourceRow")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "rows.json: invalid JSON at line 1: the file is empty"),
        ('\n\n{"prompt": "x"}', "rows.json: expected a JSON list of rows, [{...}, ...], at line 3"),
        (
            f"[\n{ROW_TEXT},\n{ROW_TEXT}\n",
            "rows.json: invalid JSON at line 4: the list is never closed with ']'",
        ),
        (
            f"[\n{ROW_TEXT}\n{ROW_TEXT}]",
            "rows.json: invalid JSON at line 3: expected ',' or ']' after the row",
        ),
        (f"[\n{ROW_TEXT},\n]", "rows.json: invalid JSON at line 3: Expecting value"),
        (f"[{ROW_TEXT}]\n\n[]", "rows.json: invalid JSON at line 3: extra data after the list"),
        ('[\n\n  {"prompt": "never closed', "rows.json: invalid JSON at line 3: this row is never closed"),
        ("[1, nonsense]", "rows.json: invalid JSON at line 1: Expecting value"),
    ],
)
def test_a_malformed_json_list_is_a_file_format_error(tmp_path, monkeypatch, content, message):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "rows.json", content)
    with pytest.raises(FileFormatError) as caught:
        read_rows("rows.json", "json")
    assert str(caught.value).startswith(message)


def test_a_json_list_that_is_not_utf8_names_line_and_byte(tmp_path):
    path = write(tmp_path, "rows.json", b'[\n  {"prompt": "caf\xe9"}\n]')
    with pytest.raises(FileFormatError, match=r"rows\.json: not UTF-8 at line 2, byte 18$"):
        read_rows(path)


def test_an_empty_json_list_has_no_rows(tmp_path):
    assert list(read_rows(write(tmp_path, "rows.json", " [ ] \n"))) == []


# --- csv ---------------------------------------------------------------------------------------


def test_csv_record_lines_count_physical_lines_of_quoted_multiline_cells(tmp_path):
    content = (
        "\ufeffid,prompt,answer_1,answer_2\r\n"
        'p1,"Write a poem\r\nin two lines",roses,violets\r\n'
        "\r\n"
        'p2,Hi,"one\n\ntwo",""\r\n'
    )
    path = write(tmp_path, "rows.csv", content)
    rows = list(read_rows(path))
    assert rows == [
        SourceRow(
            str(path),
            2,
            {
                "id": "p1",
                "prompt": "Write a poem\r\nin two lines",
                "answer_1": "roses",
                "answer_2": "violets",
            },
        ),
        SourceRow(str(path), 5, {"id": "p2", "prompt": "Hi", "answer_1": "one\n\ntwo", "answer_2": ""}),
    ]


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (b"x,a,b,extra\n", "4 fields, but the header has 3 columns"),
        (b"x,a\n", "2 fields, but the header has 3 columns"),
        (b'x,"a"b,c\n', "malformed CSV: ',' expected after '\"'"),
        (b"x,a\x00,b\n", "NUL byte at line 3"),
        (b"x,caf\xe9,b\n", "invalid UTF-8 at line 3, byte 6"),
    ],
)
def test_each_bad_csv_record_is_a_bad_row_at_its_line(tmp_path, record, reason):
    content = b"prompt,answer_1,answer_2\nfirst,a,b\n" + record + b"last,a,b\n"
    path = write(tmp_path, "rows.csv", content)
    rows = list(read_rows(path))
    assert lines_and_kinds(rows) == [(2, "SourceRow"), (3, "BadRow"), (4, "SourceRow")]
    assert rows[1].reason == reason
    assert rows[1].raw == record.decode("utf-8", "replace")
    assert rows[2].data == {"prompt": "last", "answer_1": "a", "answer_2": "b"}


def test_a_csv_cell_over_the_cap_is_a_bad_row(tmp_path):
    path = write(tmp_path, "rows.csv", "prompt,answer_1\n" + "x," + "y" * (MAX_TEXT_CHARS + 1) + "\nq,a\n")
    rows = list(read_rows(path))
    assert lines_and_kinds(rows) == [(2, "BadRow"), (3, "SourceRow")]
    assert rows[0].reason == "a value is longer than 1,000,000 characters"


def test_an_unclosed_quote_at_the_end_is_a_bad_row(tmp_path):
    path = write(tmp_path, "rows.csv", 'prompt,answer_1\nq,a\nq,"never\nclosed\n')
    rows = list(read_rows(path))
    assert lines_and_kinds(rows) == [(2, "SourceRow"), (3, "BadRow")]
    assert rows[1].reason == "malformed CSV: unexpected end of data"
    assert rows[1].raw == 'q,"never\nclosed\n'


def test_a_csv_header_naming_a_column_twice_is_a_file_format_error(tmp_path):
    path = write(tmp_path, "rows.csv", "prompt,answer_1,answer_1\nq,a,b\n")
    with pytest.raises(FileFormatError, match="the header names column 'answer_1' twice"):
        read_rows(path)


def test_a_csv_header_that_is_not_utf8_is_a_file_format_error(tmp_path):
    path = write(tmp_path, "rows.csv", b"pr\xf6mpt,answer_1\nq,a\n")
    with pytest.raises(FileFormatError, match=r"cannot read the header \(line 1\): invalid UTF-8 at line 1"):
        read_rows(path)


def test_an_empty_csv_file_has_no_rows(tmp_path):
    assert list(read_rows(write(tmp_path, "rows.csv", ""), "csv")) == []


# --- parquet -----------------------------------------------------------------------------------


def test_parquet_rows_are_numbered_from_one_and_keep_python_values(tmp_path):
    path = tmp_path / "rows.parquet"
    table = pa.table(
        {
            "prompt": ["one", "two", "three"],
            "answers": [["a", "b"], ["c", "d"], ["e", "f"]],
            "score": [0.5, math.nan, None],
        }
    )
    pq.write_table(table, path, row_group_size=2)
    rows = list(read_rows(path))
    assert rows[0] == SourceRow(str(path), 1, {"prompt": "one", "answers": ["a", "b"], "score": 0.5})
    assert rows[1] == BadRow(
        str(path), 2, "NaN is not allowed", '{"prompt": "two", "answers": ["c", "d"], "score": NaN}'
    )
    assert rows[2] == SourceRow(str(path), 3, {"prompt": "three", "answers": ["e", "f"], "score": None})


def test_parquet_is_read_in_batches_without_loading_the_file(tmp_path):
    path = tmp_path / "many.parquet"
    pq.write_table(pa.table({"prompt": [f"p{i}" for i in range(5000)]}), path)
    rows = read_rows(path)
    first = next(rows)
    assert first == SourceRow(str(path), 1, {"prompt": "p0"})
    assert [row.line for row in rows][-1] == 5000


def test_a_file_that_is_not_parquet_is_a_file_format_error(tmp_path):
    path = write(tmp_path, "rows.parquet", ROW_TEXT)
    with pytest.raises(FileFormatError, match=r"rows\.parquet: not a readable parquet file"):
        read_rows(path, "parquet")


# --- gzip-compressed files ----------------------------------------------------------------------

JSONL_WITH_BAD_LINES = (
    ROW_TEXT.encode() + b"\n\n" + b'{"prompt": "x", "prompt": "y"}\n' + b'{"prompt": "caf\xe9"}\n' + ROW_TEXT.encode()
)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("rows.jsonl", JSONL_WITH_BAD_LINES),
        ("rows.json", ("[\n" + ROW_TEXT + ",\n  [1],\n" + ROW_TEXT + "\n]").encode()),
        ("rows.csv", b'prompt,answer_1,answer_2\nq,a,b\n"multi\nline",a,b\nq,a\n'),
    ],
)
def test_a_gzip_file_reads_as_the_file_it_holds_with_the_same_lines_and_reasons(tmp_path, name, content):
    plain = write(tmp_path, name, content)
    compressed = write(tmp_path, name + ".gz", gzip.compress(content))
    assert detect_format(compressed) == detect_format(plain)

    def without_file(rows):
        return [(row.line, getattr(row, "data", None), getattr(row, "reason", None)) for row in rows]

    expected = without_file(read_rows(plain))
    assert any(reason for _, _, reason in expected)  # each file has a bad row, found at its line
    assert without_file(read_rows(compressed)) == expected
    assert {row.file for row in read_rows(compressed)} == {str(compressed)}


def test_a_bad_line_deep_in_a_gzip_jsonl_file_is_reported_at_its_line(tmp_path):
    lines = [ROW_TEXT] * 5000
    lines[3999] = '{"prompt": NaN}'
    path = write(tmp_path, "pairs.jsonl.gz", gzip.compress("\n".join(lines).encode()))
    bad = [row for row in read_rows(path) if isinstance(row, BadRow)]
    assert bad == [BadRow(str(path), 4000, "NaN is not allowed", '{"prompt": NaN}')]


def test_a_gzip_file_is_told_by_its_first_bytes_whatever_its_name(tmp_path):
    path = write(tmp_path, "download", gzip.compress((ROW_TEXT + "\n").encode()))
    assert detect_format(path) == "jsonl"
    assert [row.data for row in read_rows(path)] == [ROW]
    # A name ending in .gz says the format of the name before it, when the content cannot.
    assert detect_format(write(tmp_path, "empty.csv.gz", gzip.compress(b""))) == "csv"


def test_a_gzip_file_is_read_as_it_is_decompressed_never_whole(tmp_path):
    row = {"prompt": "p" * 1000, "answers": ["a", "b"]}
    path = write(tmp_path, "many.jsonl.gz", gzip.compress((json.dumps(row) + "\n").encode() * 10_000))  # 10 MB
    tracemalloc.start()
    try:
        assert sum(1 for _ in read_rows(path)) == 10_000
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def incompressible_rows(count: int) -> list[str]:
    """Rows of random words, so that a cut in the compressed file falls in the middle of the rows."""
    rng = random.Random(0)
    return [
        json.dumps({"prompt": "".join(rng.choices("abcdefghij", k=200)), "answers": ["a", "b"]}) for _ in range(count)
    ]


def test_a_gzip_file_cut_short_names_the_last_whole_line_read(tmp_path):
    compressed = gzip.compress("\n".join(incompressible_rows(2000)).encode() + b"\n")
    path = write(tmp_path, "rows.jsonl.gz", compressed[: len(compressed) // 2])
    read = []
    with pytest.raises(FileFormatError) as caught:
        read.extend(read_rows(path))
    assert 0 < len(read) < 2000
    assert str(caught.value) == (
        f"{path}: damaged gzip data after line {len(read)}: the file ends too early (cut short?)"
    )
    assert [row.line for row in read] == list(range(1, len(read) + 1))


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_damaged_gzip_data_is_a_file_format_error_naming_the_file_and_line(tmp_path, fmt):
    content = "\n".join(incompressible_rows(2000)).encode()
    if fmt == "csv":
        content = b"prompt\n" + content.replace(b'"', b"").replace(b",", b";")
    elif fmt == "json":
        content = b"[" + content.replace(b"\n", b",\n") + b"]"
    compressed = bytearray(gzip.compress(content))
    compressed[len(compressed) // 2 : len(compressed) // 2 + 64] = bytes(64)  # a damaged block
    path = write(tmp_path, f"rows.{fmt}.gz", bytes(compressed))
    with pytest.raises(FileFormatError, match=rf"^{re.escape(str(path))}: damaged gzip data after line [1-9][0-9]*: "):
        list(read_rows(path, fmt))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("rows.parquet.gz", None, "is a gzip-compressed parquet file; parquet compresses its own columns"),
        ("rows.jsonl.zst", b"\x28\xb5\x2f\xfd" + bytes(20), "is zstd-compressed; decompress it"),
        ("rows.jsonl.xz", b"\xfd7zXZ\x00" + bytes(20), "is xz-compressed; decompress it"),
        ("rows.jsonl.bz2", b"BZh91AY&SY" + bytes(20), "is bzip2-compressed; decompress it"),
        ("rows.jsonl.gz", b"\x1f\x8b" + bytes(20), "damaged gzip data after line 0: "),
    ],
)
def test_compressed_files_that_cannot_be_read_say_why(tmp_path, name, content, message):
    if content is None:
        pq.write_table(pa.table({"prompt": ["p"]}), tmp_path / "rows.parquet")
        content = gzip.compress((tmp_path / "rows.parquet").read_bytes())
    path = write(tmp_path, name, content)
    with pytest.raises(FileFormatError, match=f"^{re.escape(str(path))}: {re.escape(message)}"):
        list(read_rows(path))


# --- detecting the format ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "fmt"),
    [
        ("lies.csv", ROW_TEXT + "\n", "jsonl"),
        ("lies.json", ROW_TEXT + "\n" + ROW_TEXT + "\n", "jsonl"),
        ("lies.jsonl", "\n  [" + ROW_TEXT + "]", "json"),
        ("lies.json", "\ufeffprompt,answer_1,answer_2\nq,a,b\n", "csv"),
        ("no_extension", "prompt,answer_1\nq,a\n", "csv"),
        ("empty.jsonl", "", "jsonl"),
        ("one-column.csv", "prompt\nq\n", "csv"),
    ],
)
def test_the_format_comes_from_the_content_first(tmp_path, name, content, fmt):
    assert detect_format(write(tmp_path, name, content)) == fmt


def test_parquet_is_detected_by_its_magic_number(tmp_path):
    path = tmp_path / "rows.dat"
    pq.write_table(pa.table({"prompt": ["p"]}), path)
    assert detect_format(path) == "parquet"
    assert [row.data for row in read_rows(path)] == [{"prompt": "p"}]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("data.xyz", "", "data.xyz: cannot tell the format (use --format jsonl|json|csv|parquet)"),
        (
            "data.txt",
            "just words\n",
            "data.txt: cannot tell the format (use --format jsonl|json|csv|parquet)",
        ),
        ("data.json", '{\n  "prompt": "x"\n}\n', "data.json: holds a JSON object over several lines"),
        ("data.jsonl", "{}".encode("utf-16"), "data.jsonl: is UTF-16; save it as UTF-8"),
    ],
)
def test_an_unreadable_format_is_a_file_format_error(tmp_path, monkeypatch, name, content, message):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, name, content)
    with pytest.raises(FileFormatError) as caught:
        read_rows(name)
    assert str(caught.value).startswith(message)


def test_a_missing_file_or_a_folder_is_a_file_format_error_for_every_format(tmp_path):
    missing = tmp_path / "missing.jsonl"
    with pytest.raises(FileFormatError, match=r"missing\.jsonl: no such file$"):
        read_rows(missing)
    for fmt in ("jsonl", "json", "csv", "parquet"):
        with pytest.raises(FileFormatError, match="no such file"):
            read_rows(missing, fmt)
    with pytest.raises(FileFormatError, match="is a directory"):
        read_rows(tmp_path, "jsonl")


def test_an_unknown_format_name_is_refused(tmp_path):
    with pytest.raises(FileFormatError, match=r"unknown format 'xml'"):
        read_rows(write(tmp_path, "rows.jsonl", ROW_TEXT), "xml")


def test_a_last_line_cut_short_is_reported_on_its_own_line_not_on_one_past_the_end(tmp_path):
    good = '{"prompt": "a", "chosen": "b", "rejected": "c"}'
    for ending in ("\n", "\r\n", ""):
        path = write(tmp_path, "cut.jsonl", f"{good}\n{good}\n" + '{"prompt": "x", "chosen": ' + ending)
        *_, last = read_rows(path)
        assert isinstance(last, BadRow)
        assert (last.line, last.reason) == (3, "invalid JSON: Expecting value (column 27)")
        assert last.raw == '{"prompt": "x", "chosen": '
