"""Which prompt an annotator labels next, and in which order they see its answers.

Blind and fair: an annotator gets a prompt they have not judged, among those that still need
judges (fewer current judgements from distinct annotators than the project's
`annotators_per_prompt`), in prompt order from where they left off; they never see anyone
else's labels. The answers are shown
in an order shuffled per annotator and prompt, the same every time they come back to it.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime

from labeler.domain import Outcome
from labeler.store.project import Store
from labeler.store.records import utc_stamp

ANNOTATORS_PER_PROMPT = "annotators_per_prompt"


def next_prompt(store: Store, annotator: str, *, after: int = 0) -> int | None:
    """The next prompt for `annotator` to judge: the first after prompt `after` (the one just
    done, or `resume_point` when the window opens), else the first from the start; None when
    there is none left.

    Starting after the last prompt keeps this one index step on a big project; the second pass
    finds a prompt that came free behind it (a withdrawn judgement). Only prompts with 2 to 9
    answers can be shown as one task; the annotator's own judged (or skipped) prompts are not
    given again.
    """
    wanted = int(store.setting(ANNOTATORS_PER_PROMPT, 1))
    for start in dict.fromkeys([after, 0]):
        found = _first_open(store, annotator, wanted, start)
        if found is not None:
            return found
    return None


def _first_open(store: Store, annotator: str, wanted: int, start: int) -> int | None:
    """The first prompt after `start` open to `annotator`, found without testing every prompt exactly.

    Testing each prompt's current judgements (neither withdrawn nor corrected) costs about 11 µs,
    0.8 s to walk past 66,667 fully judged prompts. Counting a prompt's distinct judges, and
    looking for one of the annotator's, over all its judgement rows is 3 times cheaper, and gives
    the same answer for every prompt none of whose judgements was withdrawn or superseded. So: the
    first prompt open by those counts (then tested exactly), and, among the few prompts with a
    withdrawn or superseded judgement, the first open by the exact test; the earlier of the two.
    """
    params = {"start": start, "annotator": annotator, "wanted": wanted, "retracted": Outcome.RETRACTED}

    def is_open(prompt_id: int) -> bool:
        """The rule, exactly: 2 to 9 answers (the keys go to 9), no current judgement of theirs,
        fewer distinct current judges than wanted."""
        return bool(
            store.conn.execute(
                "SELECT 1 FROM prompts p WHERE p.id = :prompt "
                "AND (SELECT COUNT(*) FROM answers a WHERE a.prompt_id = p.id) BETWEEN 2 AND 9 "
                "AND NOT EXISTS (SELECT 1 FROM current_judgements j JOIN annotators who ON who.id = j.annotator_id "
                "  WHERE j.prompt_id = p.id AND who.name = :annotator) "
                "AND (SELECT COUNT(DISTINCT j.annotator_id) FROM current_judgements j WHERE j.prompt_id = p.id) "
                "  < :wanted",
                {**params, "prompt": prompt_id},
            ).fetchone()
        )

    own = store.conn.execute("SELECT id FROM annotators WHERE name = ?", [annotator]).fetchone()
    # The cheap conditions in one query, the exact ones per prompt found: SQLite would otherwise
    # test the costly exact ones first.
    by_count = next(
        (
            row[0]
            for row in store.conn.execute(
                "SELECT p.id FROM prompts p WHERE p.id > :start "
                "AND (SELECT COUNT(DISTINCT j.annotator_id) FROM judgements j WHERE j.prompt_id = p.id) < :wanted "
                "AND NOT EXISTS (SELECT 1 FROM judgements j WHERE j.prompt_id = p.id AND j.annotator_id = :own) "
                "ORDER BY p.id",
                {**params, "own": own[0] if own else -1},
            )
            if is_open(row[0])
        ),
        None,
    )
    changed = sorted(
        {
            row[0]
            for row in store.conn.execute(
                "SELECT prompt_id FROM judgements WHERE outcome = :retracted AND prompt_id > :start "
                "UNION SELECT j.prompt_id FROM judgements later CROSS JOIN judgements j ON j.uuid = later.supersedes "
                "WHERE later.supersedes IS NOT NULL AND j.prompt_id > :start",
                params,
            )
        }
    )
    for prompt_id in changed:
        if by_count is not None and prompt_id >= by_count:
            break
        if is_open(prompt_id):
            return prompt_id
    return by_count


def resume_point(store: Store, annotator: str) -> int:
    """Where the annotator's queue starts when the window opens: after the prompt of their latest
    judgement (an index step), so a returning annotator does not walk past all they have done."""
    row = store.conn.execute(
        "SELECT j.prompt_id FROM judgements j JOIN annotators a ON a.id = j.annotator_id "
        "WHERE a.name = ? ORDER BY j.seq DESC LIMIT 1",
        [annotator],
    ).fetchone()
    return row[0] if row else 0


def progress(store: Store, annotator: str) -> tuple[int, int]:
    """(prompts this annotator has judged, prompts they could judge in all) for a progress bar.

    Both counts start from an index (the annotator's own judgements; answers grouped by prompt)
    rather than visiting every prompt: 4 times faster on a 100,000-prompt project.
    """
    done = store.conn.execute(
        "SELECT COUNT(DISTINCT j.prompt_id) FROM judgements j JOIN annotators a ON a.id = j.annotator_id "
        "WHERE a.name = ? AND j.outcome != ? "
        "AND NOT EXISTS (SELECT 1 FROM judgements later WHERE later.supersedes = j.uuid)",
        [annotator, Outcome.RETRACTED],
    ).fetchone()[0]
    total = store.conn.execute(
        "SELECT COUNT(*) FROM (SELECT prompt_id FROM answers GROUP BY prompt_id HAVING COUNT(*) BETWEEN 2 AND 9)"
    ).fetchone()[0]
    return done, total


def display_order(answer_ids: list[int], annotator: str, prompt_id: int) -> list[int]:
    """The answers shuffled for this annotator and prompt: reproducible (a seed from sha256, not
    Python's per-process salted hash), different between annotators, so position bias averages out."""
    seed = int.from_bytes(hashlib.sha256(f"{annotator}\x00{prompt_id}".encode()).digest()[:8], "big")
    shuffled = list(answer_ids)
    random.Random(seed).shuffle(shuffled)
    return shuffled


def judged_since(store: Store, annotator: str, since: datetime) -> tuple[int, str | None]:
    """How many judgements `annotator` saved since `since` (an aware datetime), and the first one's time."""
    start = utc_stamp(since)
    count, first = store.conn.execute(
        "SELECT COUNT(*), MIN(j.created_at) FROM judgements j JOIN annotators a ON a.id = j.annotator_id "
        "WHERE a.name = ? AND j.created_at >= ? AND j.outcome != ?",
        [annotator, start, Outcome.RETRACTED],
    ).fetchone()
    return count, first


def own_judgements(store: Store, annotator: str) -> list[str]:
    """The uuids of the annotator's current judgements, oldest first: their history to step through."""
    return [
        row[0]
        for row in store.conn.execute(
            "SELECT j.uuid FROM current_judgements j JOIN annotators a ON a.id = j.annotator_id "
            "WHERE a.name = ? ORDER BY j.id",
            [annotator],
        )
    ]


def own_judgement_of(store: Store, annotator: str, prompt_id: int) -> str | None:
    """The uuid of the annotator's current judgement of this prompt, if they made one."""
    row = store.conn.execute(
        "SELECT j.uuid FROM current_judgements j JOIN annotators a ON a.id = j.annotator_id "
        "WHERE a.name = ? AND j.prompt_id = ? ORDER BY j.id DESC LIMIT 1",
        [annotator, prompt_id],
    ).fetchone()
    return row[0] if row else None
