"""Real human preferences import whole: 1,800 Anthropic HH-RLHF pairs (harmless-base), as shipped (.jsonl.gz).

The file lives beside the repository (../shared/data/hh-harmless-dev, README there); it is read through
the real console script, and what came in is checked against the file's own facts: 1,800 judgements,
3 replies that are empty (the worker preferred the assistant saying nothing), multi-turn prompts as
chats whose turns are neither padded nor empty.
"""

import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from labeler.store import open_store

REPO_ROOT = Path(__file__).resolve().parent.parent
HH_DEV = REPO_ROOT.parent / "shared" / "data" / "hh-harmless-dev" / "pairs.jsonl.gz"
LABELER = Path(sys.executable).parent / "labeler"
SPEAKERS = {"user": "Human", "assistant": "Assistant"}

pytestmark = pytest.mark.skipif(not HH_DEV.is_file(), reason=f"the HH dev set is not on this machine ({HH_DEV})")


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    project = tmp_path_factory.mktemp("hh") / "hh.db"
    assert subprocess.run([LABELER, "init", project], capture_output=True, timeout=60).returncode == 0
    result = subprocess.run([LABELER, "import", project, HH_DEV], capture_output=True, text=True, timeout=300)
    return project, result


def test_all_1800_pairs_import_and_the_summary_says_what_was_kept(imported):
    _, result = imported
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.strip().splitlines()
    # One prompt comes twice (with other replies): 1,799 prompts, each pair's two replies distinct.
    assert lines[0] == "read 1,800 rows: added 1,799 prompts, 3,600 answers, 1,800 judgements and 1,800 pairs"
    assert "3 empty answers (kept: an empty reply is a real answer)" in lines
    assert any(line.startswith("36 answers hold 'Human:' or 'Assistant:'") for line in lines)
    assert any(line.startswith("3 prompts with two turns in a row by one speaker") for line in lines)


def test_the_empty_replies_are_stored_as_empty_text_and_preferred(imported):
    project, _ = imported
    with open_store(project) as store:
        empty = store.conn.execute("SELECT text FROM answers WHERE trim(text) = ''").fetchall()
        chosen_empty = store.conn.execute(
            "SELECT count(*) FROM current_pairs p JOIN answers a ON a.id = p.chosen_answer_id WHERE a.text = ''"
        ).fetchone()[0]
        assert store.stats().judgements == 1800
    assert empty == [("",)] * 3
    assert chosen_empty == 3  # in all three the worker preferred the empty reply


def test_each_pair_comes_in_as_the_file_holds_it(imported):
    """Every row is its prompt's turns, each starting at a blank line and "Human:" or "Assistant:" in
    the transcript and stripped of the spaces around it (none is empty), then the last "Assistant:"
    and the reply as written."""
    project, _ = imported
    with open_store(project) as store:
        stored = store.conn.execute(
            "SELECT pr.kind, pr.content, c.text, r.text FROM current_pairs p JOIN prompts pr ON pr.id = p.prompt_id "
            "JOIN answers c ON c.id = p.chosen_answer_id JOIN answers r ON r.id = p.rejected_answer_id "
            "ORDER BY p.id"
        ).fetchall()
    with gzip.open(HH_DEV, "rt", encoding="utf-8") as rows:
        originals = [json.loads(line) for line in rows]
    assert len(stored) == len(originals) == 1800
    for (kind, content, chosen, rejected), original in zip(stored, originals, strict=True):
        turns = json.loads(content) if kind == "chat" else [{"role": "user", "content": content}]
        assert turns[-1]["role"] == "user"
        assert all(turn["content"] and turn["content"] == turn["content"].strip() for turn in turns)
        prompt = "".join(rf"\n\n{SPEAKERS[turn['role']]}:\s*{re.escape(turn['content'])}\s*" for turn in turns)
        for reply, transcript in ((chosen, original["chosen"]), (rejected, original["rejected"])):
            assert re.fullmatch(prompt + r"\n\nAssistant:\s*" + re.escape(reply), transcript)
