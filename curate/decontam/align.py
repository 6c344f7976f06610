"""Aligning a benchmark item through a text (`verdict`): from each matched window, walk both
word by word in either direction, let a constant face another of its kind, skip a few words to
where they agree again, and record per item word whether the text repeats it, changed a
constant, or not. Compiled kernels; `verdict._pair_facts` calls `align` once per judged pair.
"""

from __future__ import annotations

import numpy as np

from curate.decontam.weights import NUMBER
from curate.text.jit import njit


@njit(cache=True, nogil=True)
def _constant(tw, tmasked, tconst, t):
    """Text word t's constant class (`_walk`): from `tconst` when given (`evidence.TextConstants`),
    else 2 for a number (its masked word is NUMBER, `weights.tokens`; a glued constant's differs
    too) and 0 for any other word; asked only where the walk goes, so no class is made for the
    rest of a long text."""
    if len(tconst):
        return tconst[t]
    return 2 if tmasked[t] == NUMBER else 0


@njit(cache=True, nogil=True)
def _agree(iw, tw, i, t, step, sync):
    """True when `sync` item and text words from (i, t) on, in direction `step`, are equal."""
    for k in range(sync):
        a, b = i + k * step, t + k * step
        if a < 0 or a >= len(iw) or b < 0 or b >= len(tw) or iw[a] != tw[b]:
            return False
    return True


@njit(cache=True, nogil=True)
def _walk(iw, inum, iname, tw, tmasked, tconst, i, t, step, look, sync, state, text_at, pending, claimed):
    """Follow the item through the text from (i, t) in direction `step`: equal words, and a
    constant facing one of its kind (`inum`, `_constant`: 2 a number, 1 a word with digits glued to
    letters, `19x`), advance both; elsewhere skip at most `look` words on either side
    to the nearest point where `sync` words agree again (a renamed identifier, an inserted
    word), or stop. An item name facing a word that is not a number is a renamed name: the walk steps over
    the name's words and one text word. A changed number counts only once an equal word (or the item's edge)
    follows it: where a quote ends, the text's next number is not the item's constant changed. A text word
    already aligned to another item word stops the walk (look-alike example lines)."""
    waiting = 0
    while 0 <= i < len(iw) and 0 <= t < len(tw):
        if claimed[t] >= 0 and claimed[t] != i:
            return
        if iw[i] == tw[t]:
            state[i] = 1
            text_at[i] = t
            claimed[t] = i
            for k in range(waiting):
                if state[pending[k, 0]] == 0:
                    state[pending[k, 0]] = 2
                    text_at[pending[k, 0]] = pending[k, 1]
                    claimed[pending[k, 1]] = pending[k, 0]
            waiting = 0
        elif inum[i] and inum[i] == _constant(tw, tmasked, tconst, t):
            pending[waiting, 0] = i
            pending[waiting, 1] = t
            waiting += 1
        elif iname[i] and _constant(tw, tmasked, tconst, t) != 2:
            while 0 <= i < len(iw) and iname[i] and iw[i] != tw[t]:
                i += step
            t += step
            continue
        else:
            found = False
            for total in range(1, 2 * look + 1):
                for da in range(max(0, total - look), min(total, look) + 1):
                    if _agree(iw, tw, i + da * step, t + (total - da) * step, step, sync):
                        i += da * step
                        t += (total - da) * step
                        found = True
                        break
                if found:
                    break
            if not found:
                return
            continue
        i += step
        t += step
    if not 0 <= i < len(iw):  # the item's edge: its last (first) constants were changed too
        for k in range(waiting):
            if state[pending[k, 0]] == 0 and claimed[pending[k, 1]] < 0:
                state[pending[k, 0]] = 3
                text_at[pending[k, 0]] = pending[k, 1]
                claimed[pending[k, 1]] = pending[k, 0]


@njit(cache=True, nogil=True)
def align(iw, inum, iname, tw, tmasked, tconst, anchor_i, anchor_t, n, look, sync):
    """Per item word: 0 unmatched, 1 equal, 2 a number the text replaced by another number
    (3: at the item's edge, weaker evidence); and the text position of each. Walks start from
    every matched window not yet walked through, the windows equal word for word first."""
    state = np.zeros(len(iw), np.int8)
    text_at = np.full(len(iw), -1, np.int64)
    pending = np.empty((len(iw) + 1, 2), np.int64)
    claimed = np.full(len(tw), -1, np.int64)
    for exact_first in (True, False):
        for a in range(len(anchor_i)):
            i, t = anchor_i[a], anchor_t[a]
            if _agree(iw, tw, i, t, 1, n) != exact_first or (state[i] == 1 and text_at[i] == t):
                continue
            _walk(iw, inum, iname, tw, tmasked, tconst, i, t, 1, look, sync, state, text_at, pending, claimed)
            _walk(iw, inum, iname, tw, tmasked, tconst, i - 1, t - 1, -1, look, sync, state, text_at, pending,
                  claimed)
    return state, text_at
