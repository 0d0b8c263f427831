"""``rusty chat`` as a user pipes a conversation into it: two turns, commands, a bad one."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

STATS = re.compile(r"rusty: (\d+) tokens \((\w+)\); prompt (\d+) tokens: (\d+) from the cache, (\d+) prefilled")


def test_chat_keeps_the_conversation_in_the_kv_cache(smollm2_path: Path) -> None:
    turns = "Hi\n/set temperature 0.7\n/set seed 3\n/settings\n/nonsense\nBye\n/quit\nnever read\n"
    r = subprocess.run([sys.executable, "-m", "rusty_ir.tools.rusty", "chat", "--max-tokens", "3", "--context-length", "256"],
                       input=turns, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    (n1, why1, prompt1, cached1, prefilled1), (n2, _, prompt2, cached2, prefilled2) = (
        tuple(int(x) if x.isdigit() else x for x in m) for m in STATS.findall(r.stderr)
    )
    assert (n1, why1, cached1, prefilled1) == (3, "length", 0, prompt1)
    # the second turn's prompt holds the first turn's prompt and answer: only the last answer token
    # (never run) and the new message with the template's markers are prefilled
    assert cached2 == prompt1 + n1 - 1 and prefilled2 == prompt2 - cached2 and prefilled2 < prompt2 - prompt1
    assert "temperature=0.7" in r.stdout and "seed=3" in r.stdout and "context: " in r.stdout
    assert "unknown command '/nonsense'" in r.stdout
    assert "never read" not in r.stdout + r.stderr


def test_chat_speculates(smollm2_path: Path) -> None:
    """``rusty chat --speculate lookup``: an answer that repeats the message is drafted from it, and each turn's
    statistics say how many drafts were kept (the reference backend: no compile)."""
    r = subprocess.run([sys.executable, "-m", "rusty_ir.tools.rusty", "chat", "--backend", "reference", "--speculate", "lookup",
                        "--max-tokens", "12", "--context-length", "256"],
                       input="Repeat exactly: one two three, one two three, one two three.\n", capture_output=True, text=True,
                       timeout=600)  # fmt: skip
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "one two three" in r.stdout
    assert re.search(r"speculative \(lookup\): [1-9]\d* of \d+ drafted tokens accepted", r.stderr), r.stderr
