"""Bulk import: many prompts, answers and judgements in one transaction, all or nothing.

The reading side (labeler.formats.importer, possibly in another process) turns rows into prepared
chunks: plain tuples with the prompts' hashes computed and the texts already encoded as UTF-8, cheap
to send between processes. This side writes the chunks as they come, inside one transaction that is
opened before the first chunk is read, so reading and writing overlap and the write is still all or
nothing. It also hashes the answers: reading is the longer half of a big import, and that moves
400,000 answers' sha256 (0.6 s) to the other core.

Prompts and answers are identified by content, so importing the same content again adds nothing.
An imported judgement gets a uuid derived from its content and its source file's name, so the same
judgement imported again from the same source is recognised and not added twice (a row repeated
within one file is kept: the n-th copy gets its own uuid).
"""

from __future__ import annotations

import functools
import json
import marshal
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any

from labeler import domain
from labeler.store.judgement_rows import ids_column, insert_judgement, insert_pairs, pair_rows, ranking_columns
from labeler.store.project import Store, ensure_annotator
from labeler.store.records import content_hash, prompt_kind_and_content, text_prompt_hash, utc_now

# Fixed namespace for the uuids of imported judgements (uuid5 of their content).
IMPORTED_JUDGEMENT_NAMESPACE = uuid.UUID("6f1c3f4e-2b7a-4c1d-9a52-7d0e5b8c4a11")

# Before binding a bytes value, sqlite3 looks for an adapter, then for __conform__ and __adapt__,
# raising and discarding an AttributeError each time: about 1 µs per value, 0.2 s of an import's
# 500,000 texts (measured). Registering bytes itself as the adapter (bytes() of a bytes object is
# that object) turns this into one dictionary look-up and binds exactly what it bound before. The
# registry is the sqlite3 module's, so this holds for every connection of the process, unchanged.
sqlite3.register_adapter(bytes, bytes)

# (text as UTF-8, model, generation settings as JSON); the writer hashes the text (text_hash)
PreparedAnswer = tuple[bytes, str | None, str]
# (content hash, external id, kind, content as UTF-8, metadata as JSON, answers)
PreparedPrompt = tuple[str, str | None, str, bytes, str, tuple[PreparedAnswer, ...]]

# Rows per INSERT statement: one call into SQLite per 50 rows instead of per row (measured: 400k
# answers 3.9 s -> 3.2 s).
_ROWS_PER_INSERT = 50


@dataclass(frozen=True)
class _Insert:
    """A multi-row INSERT into one table. Each row's own values are parameters; the values all rows of
    an import share (source, time) are bound once per statement as ?1, ?2..., so a row binds fewer
    values (measured: 0.3 s less for 400,000 answers). Texts arrive as UTF-8 bytes and are stored as
    TEXT: the CAST keeps the bytes and makes the value text, so the writing process never decodes and
    re-encodes 200 MB of strings."""

    head: str  # "INSERT INTO table (columns) VALUES "
    row: str  # one row's values: "{}" for each of its own parameters, ?1... for the shared ones
    shared: int  # how many shared parameters the row names

    @property
    def width(self) -> int:  # parameters of one row's own
        return self.row.count("{}")


@functools.cache
def _insert_statement(table: _Insert, rows: int) -> str:
    """The INSERT of `rows` rows: row r's own parameters are numbered on from the shared ones."""
    first, width = table.shared + 1, table.width
    return table.head + ", ".join(
        table.row.format(*(f"?{first + r * width + i}" for i in range(width))) for r in range(rows)
    )


_PROMPTS = _Insert(
    "INSERT INTO prompts (id, external_id, kind, content, content_hash, metadata, created_at) VALUES ",
    "({}, {}, {}, CAST({} AS TEXT), {}, {}, ?1)",
    shared=1,
)
_ANSWERS = _Insert(
    "INSERT INTO answers (id, prompt_id, text, text_hash, model, generation, source, created_at) VALUES ",
    "({}, {}, CAST({} AS TEXT), {}, {}, {}, ?1, ?2)",
    shared=2,
)


@dataclass(frozen=True)
class PreparedJudgement:
    prompt: int  # index into the prompts of the same chunk
    uuid: str  # from imported_judgement_uuid
    annotator: str
    ranking: domain.Ranking  # over indices into that prompt's answers
    answers_hash: str  # of the prompt's answer texts, in their order
    likert: int | None = None
    comment: str = ""


@dataclass
class PreparedChunk:
    source: str  # the file the rows came from (its name): recorded as the answers' source
    prompts: list[PreparedPrompt] = field(default_factory=list)
    judgements: list[PreparedJudgement] = field(default_factory=list)

    def __reduce__(self) -> tuple:
        # Sent from the reading process to the writer: marshal packs the prompts' plain tuples of
        # bytes and text in half the time pickle takes (0.44 -> 0.23 s for 100,000 prompts); both
        # ends are the same Python, which is all marshal asks.
        return (_unmarshalled_chunk, (self.source, marshal.dumps(self.prompts), self.judgements))


def _unmarshalled_chunk(source: str, prompts: bytes, judgements: list[PreparedJudgement]) -> PreparedChunk:
    return PreparedChunk(source, marshal.loads(prompts), judgements)


@dataclass
class ImportCounts:
    """What an import added to the project, counted as it is written (labeler.formats.importer's
    report extends it with what was read)."""

    prompts_added: int = 0
    answers_added: int = 0
    judgements_added: int = 0
    judgements_already_there: int = 0  # their uuid (from content and file name) was already there
    pairs_added: int = 0


def prepare_prompt(
    prompt: str | Sequence[Mapping[str, str]],
    answers: Iterable[tuple[str, str | None, Mapping[str, Any]]],
    *,
    external_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> PreparedPrompt:
    """A prompt and its answers, each (text, model, generation settings), as the writer takes them (pure:
    no database; the prompt's hash is content_hash)."""
    kind, content = prompt_kind_and_content(prompt)
    encoded_content = content.encode("utf-8")
    digest = text_prompt_hash(encoded_content) if kind == "text" else content_hash(prompt)
    prepared_answers = [(text.encode("utf-8"), model, _json_object(generation)) for text, model, generation in answers]
    return (digest, external_id, kind, encoded_content, _json_object(metadata), tuple(prepared_answers))


def prepare_text_prompt(
    prompt: str,
    answers: Iterable[tuple[str, str | None]],
    external_id: str | None,
    metadata: Mapping[str, Any] | None,
) -> PreparedPrompt:
    """prepare_prompt of a text prompt whose answers, each (text, model), have no generation settings:
    the commonest row of a big file, prepared in fewer steps (the same result, as the tests check)."""
    content = prompt.encode("utf-8")
    prepared_answers = tuple([(text.encode("utf-8"), model, "{}") for text, model in answers])
    return (text_prompt_hash(content), external_id, "text", content, _json_object(metadata), prepared_answers)


def imported_judgement_uuid(
    source: str,
    annotator: str,
    prompt: PreparedPrompt,
    ranking: domain.Ranking,
    likert: int | None,
    comment: str,
    copies_seen: dict[str, int],
) -> str:
    """The uuid of an imported judgement, from its content and source; `copies_seen` (one dict for the
    whole import, in row order) makes the n-th identical copy's uuid differ from the first's.

    The content holds the ranking's strengths with the default filled in, not which of them were
    stated: a file imported before the store kept that (migration m004) gets the same uuids when
    imported again, so its judgements are recognised, not added a second time.
    """
    digests = [sha256(answer[0]).hexdigest() for answer in prompt[5]]
    content = json.dumps(
        [
            source,
            annotator,
            prompt[0],
            [[digests[i] for i in tier] for tier in ranking.tiers],
            list(ranking.strengths),
            sorted(digests),
            likert,
            comment,
        ]
    )
    copy = copies_seen.get(content, 0)
    copies_seen[content] = copy + 1
    return str(uuid.uuid5(IMPORTED_JUDGEMENT_NAMESPACE, f"{content}#{copy}"))


def external_id_owners(conn: sqlite3.Connection) -> dict[str, str]:
    """Every external id in the project -> the content hash of the prompt that has it."""
    return dict(conn.execute("SELECT external_id, content_hash FROM prompts WHERE external_id IS NOT NULL"))


def import_prepared(
    store: Store,
    produce: Callable[[Callable[[], dict[str, str]]], Iterable[PreparedChunk]],
    *,
    big: bool = False,
) -> ImportCounts:
    """Write every chunk `produce(project_ids)` yields, in one transaction.

    A `big` import goes through Store.write_in_bulk: faster by a second or more per 100 MB, and
    others cannot open the file meanwhile. If it is refused or fails, the project's content is as it
    was, but not every byte of the file: SQLite's change counter in its header has moved on (the
    journal mode was switched). A small import leaves a refused file byte for byte as it was.

    The transaction (BEGIN IMMEDIATE) is open while `produce` runs, so `project_ids()` reads the
    project's external ids (id -> content hash) as they stay until the commit, and anything `produce`
    raises rolls the whole import back. If the store is busy, the whole import is retried, `produce`
    included. The caller has validated every item (domain rules, 2-9 distinct answers, one content per
    external id); anything that still fails here rolls the import back too.
    """

    def work(conn: sqlite3.Connection, flush: Callable[[], None]) -> ImportCounts:
        writer = _Writer(conn)
        chunks = produce(lambda: external_id_owners(conn))
        try:
            for chunk in chunks:
                writer.write(chunk)
                flush()
        finally:  # a generator is stopped now, not when the traceback that holds it is freed
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return writer.counts

    if big:
        return store.write_in_bulk(work)
    return store.write(lambda conn: work(conn, lambda: None))


class _Writer:
    """Writes prepared chunks inside the caller's transaction. It holds the write lock, so it hands out
    the ids itself (as SQLite would: the largest so far plus one) and needs no lookup after an insert."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.now = utc_now()
        self.next_prompt_id = conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM prompts").fetchone()[0]
        self.next_answer_id = conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM answers").fetchone()[0]
        # A project that had no prompts has none to look up: all an import's lookups are in prompt_ids.
        self.project_had_prompts = self.next_prompt_id > 1
        self.prompt_ids: dict[str, int] = {}  # content hash -> id of every prompt this import has met
        self.annotator_ids: dict[str, int] = {}
        self.counts = ImportCounts()

    def write(self, chunk: PreparedChunk) -> None:
        """Add the chunk's new prompts and answers, in row order (the ids come out as if each row had
        been inserted in turn), then its judgements."""
        now, source, prompt_ids = self.now, chunk.source, self.prompt_ids
        digests = [prompt[0] for prompt in chunk.prompts]
        in_project: dict[str, int] = {}
        if self.project_had_prompts:
            in_project = self._prompts_by_hash([digest for digest in digests if digest not in prompt_ids])
        # The answers of the prompts that have an id already, and, if a prompt comes twice in the chunk,
        # of the prompts added by it: (prompt id, text hash) -> answer id.
        had_id = {prompt_ids.get(digest) or in_project.get(digest) for digest in digests} - {None}
        answer_ids = self._answer_ids(sorted(had_id)) if had_id else {}
        remember_new = len(set(digests)) < len(digests)
        placed: list[tuple[int, Sequence[int]]] = []  # per prompt: (prompt id, answer ids), for judgements
        place = placed.append if chunk.judgements else _ignore
        # The rows' values one after the other, as the INSERTs bind them
        prompt_values: list[Any] = []
        answer_values: list[Any] = []
        answer_id = self.next_answer_id
        for digest, external_id, kind, content, metadata, answers in chunk.prompts:
            prompt_id = prompt_ids.get(digest) or in_project.get(digest)
            if prompt_id is None:
                prompt_id = self.next_prompt_id
                self.next_prompt_id += 1
                prompt_ids[digest] = prompt_id
                prompt_values += (prompt_id, external_id, kind, content, digest, metadata)
                # A new prompt's answers are all new: a row's answers are distinct (checked when read).
                place((prompt_id, range(answer_id, answer_id + len(answers))))
                for text, model, generation in answers:
                    text_digest = sha256(text).hexdigest()
                    answer_values += (answer_id, prompt_id, text, text_digest, model, generation)
                    if remember_new:
                        answer_ids[(prompt_id, text_digest)] = answer_id
                    answer_id += 1
                continue
            prompt_ids[digest] = prompt_id
            ids = []
            for text, model, generation in answers:
                text_digest = sha256(text).hexdigest()
                known = answer_ids.get((prompt_id, text_digest))
                if known is None:
                    known = answer_ids[(prompt_id, text_digest)] = answer_id
                    answer_values += (answer_id, prompt_id, text, text_digest, model, generation)
                    answer_id += 1
                ids.append(known)
            place((prompt_id, ids))
        self.next_answer_id = answer_id
        self._insert(_PROMPTS, [now], prompt_values)
        self._insert(_ANSWERS, [source, now], answer_values)
        self.counts.prompts_added += len(prompt_values) // _PROMPTS.width
        self.counts.answers_added += len(answer_values) // _ANSWERS.width
        if chunk.judgements:
            self._write_judgements(chunk, placed)

    def _write_judgements(self, chunk: PreparedChunk, placed: list[tuple[int, Sequence[int]]]) -> None:
        conn = self.conn
        known = {
            row[0]
            for row in conn.execute(
                "SELECT uuid FROM judgements WHERE uuid IN (SELECT value FROM json_each(?))",
                [json.dumps([j.uuid for j in chunk.judgements])],
            )
        }
        pairs = []
        for judgement in chunk.judgements:
            if judgement.uuid in known:
                self.counts.judgements_already_there += 1
                continue
            known.add(judgement.uuid)
            prompt_id, ids = placed[judgement.prompt]
            ranking = domain.Ranking(
                tuple(tuple(ids[i] for i in tier) for tier in judgement.ranking.tiers),
                judgement.ranking.stated_strengths,
            )
            person = self.annotator_ids.get(judgement.annotator)
            if person is None:
                person = self.annotator_ids[judgement.annotator] = ensure_annotator(conn, judgement.annotator)
            recorded = insert_judgement(
                conn,
                annotator_id=person,
                judgement_uuid=judgement.uuid,
                created_at=self.now,
                prompt_id=prompt_id,
                outcome=domain.Outcome.RANKED.value,
                **ranking_columns(ranking),
                display_order=ids_column(ids),
                answers_hash=judgement.answers_hash,
                likert=judgement.likert,
                comment=judgement.comment,
            )
            pairs.extend(pair_rows(recorded.id, prompt_id, domain.ranking_to_pairs(ranking)))
            self.counts.judgements_added += 1
        insert_pairs(conn, pairs)
        self.counts.pairs_added += len(pairs)

    def _insert(self, table: _Insert, shared: list[Any], values: list[Any]) -> None:
        """INSERT the rows whose `values` follow one another, _ROWS_PER_INSERT to a statement."""
        per_statement = _ROWS_PER_INSERT * table.width
        whole = len(values) - len(values) % per_statement
        if whole:
            self.conn.executemany(
                _insert_statement(table, _ROWS_PER_INSERT),
                (shared + values[i : i + per_statement] for i in range(0, whole, per_statement)),
            )
        if whole < len(values):
            self.conn.execute(_insert_statement(table, (len(values) - whole) // table.width), shared + values[whole:])

    def _prompts_by_hash(self, digests: list[str]) -> dict[str, int]:
        if not digests:
            return {}
        return dict(
            self.conn.execute(
                "SELECT content_hash, id FROM prompts WHERE content_hash IN (SELECT value FROM json_each(?))",
                [json.dumps(digests)],
            )
        )

    def _answer_ids(self, prompt_ids: Sequence[int]) -> dict[tuple[int, str], int]:
        """(prompt id, text hash) -> answer id for every answer of these prompts."""
        rows = self.conn.execute(
            "SELECT prompt_id, text_hash, id FROM answers WHERE prompt_id IN (SELECT value FROM json_each(?))",
            [json.dumps(list(prompt_ids))],
        )
        return {(prompt_id, digest): answer_id for prompt_id, digest, answer_id in rows}


def _ignore(_: object) -> None:
    pass


def _json_object(mapping: Mapping[str, Any] | None) -> str:
    # Most answers come with no settings: skip json.dumps for them (a measurable share of a big import).
    return json.dumps(dict(mapping), ensure_ascii=False) if mapping else "{}"
