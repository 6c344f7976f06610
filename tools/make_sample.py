#!/usr/bin/env python3
"""Generate curate's small sample corpus (written by the curate authors).

Run ``python tools/make_sample.py`` from the repository root.  It writes into
``recipes/data/`` (or the folder given as its one argument; tests/test_sample_data.py
regenerates into a temporary folder and checks the committed files are exactly what it makes):

* ``math.jsonl``           ~60 math problems, 1-4 R1-style sampled traces each
* ``code.jsonl``           20 programming problems with executable tests
* ``general.jsonl``        40 ordinary (non-reasoning) chat conversations
* ``mini_benchmark.jsonl`` a 12-item stand-in evaluation benchmark
* ``PLANTS.md``            a table of every planted fault

Every problem, trace and conversation is produced from the templates and
tables in this file; no text is copied from an existing dataset.  The math
reasoning is computed from the problem parameters, so correct traces really
reach the gold answer.

The corpus is deliberately dirty.  It carries *planted faults* so that each
stage of the curate pipeline has something to catch:

* math: wrong boxed answers (an arithmetic slip in the reasoning), traces
  truncated at the length limit, correct answers written in an equivalent
  but different form, answers given only as "The final answer is N.",
  traces with no final answer, near-duplicate and exact-duplicate problems,
  a bad (unparseable) gold answer, and benchmark contamination (verbatim,
  reformatted, embedded and short copies, plus a one-constant-changed copy
  that must *not* be flagged);
* code: wrong solutions (off-by-one, wrong operator), one that loops
  forever, one truncated trace;
* general: clean, for mixing.

Problem-level plants are listed in ``PLANTS`` below; trace-level faults are
chosen with the seeded RNG and listed in the generated ``PLANTS.md``.

The output is deterministic: each builder uses ``random.Random(SEED)``, no
set is iterated, nothing reads the clock, so two runs give identical bytes.
"""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

SEED = 0
TEACHER = "sample-teacher-7b"
OUT_DIR = Path(__file__).resolve().parent.parent / "recipes" / "data"

# Problem-level plants: uid -> description.  ``build_math`` asserts that the
# generated rows match this table.
PLANTS: dict[str, str] = {
    # near-duplicates: reworded copy of another problem (same numbers)
    "m-051": "near-duplicate of m-001 (reworded, whitespace/case changed)",
    "m-052": "near-duplicate of m-004 (reworded, whitespace/case changed)",
    "m-053": "near-duplicate of m-008 (reworded, whitespace/case changed)",
    "m-054": "near-duplicate of m-012 (reworded, whitespace/case changed)",
    "m-055": "near-duplicate of m-018 (reworded, whitespace/case changed)",
    "m-056": "near-duplicate of m-024 (reworded, whitespace/case changed)",
    # exact duplicates: only whitespace and letter case differ
    "m-057": "exact duplicate of m-006 (whitespace and letter case only)",
    "m-058": "exact duplicate of m-029 (whitespace and letter case only)",
    # bad reference answer
    "m-023": "gold is unparseable garbage ('see solution')",
    # benchmark contamination
    "m-leak-01": "contaminated: verbatim copy of mb-02",
    "m-leak-02": "contaminated: reformatted copy of mb-05 (whitespace, case, LaTeX spacing)",
    "m-leak-03": "contaminated: mb-04 embedded in a longer problem",
    "m-leak-04": "contaminated: short item mb-08 copied verbatim as the whole question",
    "m-near-const-01": ("NOT contaminated: copy of mb-01 with one numeric constant "
                        "changed (144 -> 176)"),
    # code
    "c-007": "sample 1 loops forever (while True: pass)",
    "c-012": "sample 1 is truncated inside the code block (finish_reason length)",
}

NEAR_DUPS = {"m-051": "m-001", "m-052": "m-004", "m-053": "m-008",
             "m-054": "m-012", "m-055": "m-018", "m-056": "m-024"}
EXACT_DUPS = {"m-057": "m-006", "m-058": "m-029"}
BAD_GOLD_UID = "m-023"
BAD_GOLD = "see solution"
LEAKS = {  # training uid -> (benchmark id, kind)
    "m-leak-01": ("mb-02", "verbatim"),
    "m-leak-02": ("mb-05", "reformatted"),
    "m-leak-03": ("mb-04", "embedded"),
    "m-leak-04": ("mb-08", "short-verbatim"),
    "m-near-const-01": ("mb-01", "one-constant-changed (not contaminated)"),
}

N_BASE_MATH = 50


# ---------------------------------------------------------------------------
# Small formatting helpers
# ---------------------------------------------------------------------------

def tex_frac(value: Fraction | int) -> str:
    """LaTeX for a rational number: ``7``, ``\\frac{3}{4}``, ``-\\frac{1}{2}``."""
    value = Fraction(value)
    if value.denominator == 1:
        return str(value.numerator)
    sign = "-" if value < 0 else ""
    return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"


def slash_frac(value: Fraction) -> str:
    """Plain-text fraction such as ``3/4``."""
    return f"{value.numerator}/{value.denominator}"


def decimal_str(value: Fraction | int) -> str | None:
    """Exact decimal string if ``value`` terminates (``0.375``), else None."""
    value = Fraction(value)
    d = value.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    if d != 1:
        return None
    digits = 0
    while (value * 10 ** digits).denominator != 1:
        digits += 1
    scaled = abs(int(value * 10 ** digits))
    text = str(scaled).rjust(digits + 1, "0")
    if digits:
        text = text[:-digits] + "." + text[-digits:]
    return ("-" if value < 0 else "") + text


def pm(n: int) -> str:
    """`` + 5`` / `` - 5`` for use after another term."""
    return f"+ {n}" if n >= 0 else f"- {-n}"


def pm_tight(n: int) -> str:
    """``+5`` / ``-5`` without spaces (for compact gold answers)."""
    return f"+{n}" if n >= 0 else f"-{-n}"


def paren(n: int | str) -> str:
    """Wrap negative numbers in parentheses for products and powers."""
    return f"({n})" if str(n).startswith("-") else str(n)


def coef(c: int, var: str) -> str:
    """Coefficient times variable: ``x``, ``-x``, ``3x``."""
    if c == 1:
        return var
    if c == -1:
        return f"-{var}"
    return f"{c}{var}"


def poly(a: int, b: int, c: int, spaced: bool = True) -> str:
    """``ax^2 + bx + c`` with sensible signs; zero terms are dropped."""
    terms = [coef(a, "x^2")]
    rest = [(b, "x"), (c, "")]
    out = terms[0]
    for value, var in rest:
        if value == 0:
            continue
        body = coef(abs(value), var) if var else str(abs(value))
        sign = "+" if value > 0 else "-"
        out += f" {sign} {body}" if spaced else f"{sign}{body}"
    return out


def simplify_sqrt(n: int) -> tuple[int, int]:
    """Return (k, m) with sqrt(n) = k*sqrt(m) and m square-free."""
    k, m = 1, n
    f = 2
    while f * f <= m:
        while m % (f * f) == 0:
            k, m = k * f, m // (f * f)
        f += 1
    return k, m


def tex_sqrt(n: int) -> str:
    k, m = simplify_sqrt(n)
    if m == 1:
        return str(k)
    return f"\\sqrt{{{m}}}" if k == 1 else f"{k}\\sqrt{{{m}}}"


def ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}" + {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def show_div(num: int, den: int) -> str:
    """Show a division and its reduced result."""
    value = Fraction(num, den)
    if value.denominator == 1:
        return f"{num} \\div {den} = {value.numerator}"
    raw = f"\\frac{{{num}}}{{{den}}}"
    red = tex_frac(value)
    return raw if raw == red else f"{raw} = {red}"


def tex_ratio(num: int, den: int) -> str:
    """``\\frac{6}{8} = \\frac{3}{4}``, or just ``\\frac{3}{4}`` if already reduced."""
    raw = f"\\frac{{{num}}}{{{den}}}"
    red = tex_frac(Fraction(num, den))
    return raw if raw == red else f"{raw} = {red}"


def reduce_sentence(num: int, den: int) -> str:
    g = math.gcd(num, den)
    if g == 1:
        return "This fraction is already in lowest terms."
    return (f"Dividing numerator and denominator by {g} gives "
            f"${tex_frac(Fraction(num, den))}$.")


def alt_fraction_forms(value: Fraction) -> list[str]:
    """Equivalent forms for a rational answer (decimal, slash)."""
    if value.denominator == 1:
        return []
    dec = decimal_str(value)
    return [dec] if dec is not None else [slash_frac(value)]


# ---------------------------------------------------------------------------
# Math problems
# ---------------------------------------------------------------------------

@dataclass
class Sol:
    steps: list[str]   # reasoning sentences inside <think>
    answer: str        # what gets boxed
    summary: str       # one-sentence final solution after </think>


@dataclass
class Problem:
    kind: str
    question: str
    gold: str
    good: Sol
    bad: Sol                       # same reasoning with an arithmetic slip
    alts: list[str] = field(default_factory=list)  # equivalent answer forms

    @property
    def integer_gold(self) -> bool:
        return re.fullmatch(r"-?\d+", self.gold) is not None


def _nonzero(rng: random.Random, lo: int, hi: int) -> int:
    while True:
        n = rng.randint(lo, hi)
        if n:
            return n


def _slip(rng: random.Random, n: int, sizes=(1, 2)) -> int:
    return n + rng.choice(sizes) * rng.choice((-1, 1))


# --- arithmetic word problems ----------------------------------------------

TOTAL_CONTEXTS = (
    ("bakery", "boxes", "muffins"),
    ("library", "shelves", "books"),
    ("school", "classrooms", "desks"),
    ("garden centre", "trays", "seedlings"),
)


def gen_arith_total(rng, variant=0):
    place, containers, items = rng.choice(TOTAL_CONTEXTS)
    a, b, c = rng.randint(6, 19), rng.randint(6, 15), rng.randint(3, 29)
    if variant == 0:
        q = (f"A {place} has {a} {containers} with {b} {items} in each, plus {c} "
             f"extra {items} set aside. How many {items} does the {place} have in total?")
    else:
        q = (f"There are {a} {containers} in a {place}, and every one of them holds {b} "
             f"{items}. Another {c} {items} sit on a cart by the door. Count all the "
             f"{items} in the {place}.")

    def sol(prod):
        return Sol([f"There are {a} {containers} holding {b} {items} each, so that is "
                    f"${a} \\times {b} = {prod}$ {items}.",
                    f"Adding the {c} extra {items} gives ${prod} + {c} = {prod + c}$."],
                   str(prod + c),
                   f"The total is ${a} \\times {b} + {c} = {prod + c}$.")
    return Problem("arith_total", q, str(a * b + c), sol(a * b),
                   sol(a * b + rng.choice((-10, 10))))


def gen_arith_seats(rng, variant=0):
    a, b = rng.randint(8, 25), rng.randint(10, 30)
    c = rng.randint(20, a * b // 2)
    if variant == 0:
        venue, seat = "theater", "seat"
        q = (f"A theater has {a} rows with {b} seats in each row. If {c} seats are "
             f"already sold, how many seats are still available?")
    else:
        venue, seat = "hall", "chair"
        q = (f"A concert hall is arranged in {a} rows of {b} chairs. Tickets for {c} "
             f"chairs have been sold. How many chairs can still be booked?")

    def sol(total):
        return Sol([f"The {venue} has ${a} \\times {b} = {total}$ {seat}s in all.",
                    f"Removing the {c} sold {seat}s leaves ${total} - {c} = {total - c}$."],
                   str(total - c),
                   f"There are ${a} \\times {b} - {c} = {total - c}$ {seat}s left.")
    return Problem("arith_seats", q, str(a * b - c), sol(a * b),
                   sol(a * b + rng.choice((-10, 10))))


def gen_arith_share(rng, variant=0):
    a, b, d = rng.randint(5, 12), rng.randint(12, 30), rng.randint(3, 6)
    total = a * b
    c = rng.randint(10, total // 3)
    c += (total - c) % d
    rest = total - c
    if variant == 0:
        item, group = "apples", "shop"
        q = (f"A farmer fills {a} crates with {b} apples each. She sells {c} apples at "
             f"the market and divides the rest equally among {d} shops. How many "
             f"apples does each shop receive?")
    else:
        item, group = "rolls", "bag"
        q = (f"A baker makes {a} trays of {b} rolls. After {c} rolls are sold in the "
             f"morning, the remaining rolls are packed equally into {d} bags. How many "
             f"rolls go into each bag?")

    def sol(r):
        return Sol([f"The starting amount is ${a} \\times {b} = {total}$ {item}.",
                    f"After {c} are sold, ${total} - {c} = {r}$ {item} remain.",
                    f"Sharing them among {d} {group}s gives ${r} \\div {d} = {r // d}$ "
                    f"{item} per {group}."],
                   str(r // d),
                   f"Each {group} gets $({a} \\times {b} - {c}) \\div {d} = {r // d}$ {item}.")
    return Problem("arith_share", q, str(rest // d), sol(rest),
                   sol(rest + rng.choice((-d, d))))


# --- linear equations and inequalities -------------------------------------

def gen_linear_eq(rng, variant=0):
    a = rng.randint(2, 9)
    if rng.random() < 0.35:
        p = rng.choice([n for n in range(-30, 31) if n % a])
    else:
        p = a * _nonzero(rng, -9, 15)
    b = _nonzero(rng, -20, 20)
    c = p + b
    x = Fraction(p, a)
    if variant == 0:
        q = f"Solve for $x$: ${a}x {pm(b)} = {c}$."
    else:
        q = f"Find the number $x$ for which ${a}x {pm(b)} = {c}$."

    def sol(rhs):
        move = (f"Subtracting {b} from both sides gives ${a}x = {c} - {b} = {rhs}$."
                if b > 0 else
                f"Adding {-b} to both sides gives ${a}x = {c} + {-b} = {rhs}$.")
        steps = [move, f"Dividing both sides by {a} gives $x = {show_div(rhs, a)}$."]
        val = Fraction(rhs, a)
        if val.denominator == 1:
            steps.append(f"Check: ${a} \\cdot {paren(val.numerator)} {pm(b)} = "
                         f"{a * val.numerator + b}$.")
        return Sol(steps, tex_frac(val),
                   f"Isolating $x$ gives $x = {tex_frac(val)}$.")
    alts = [f"x={tex_frac(x)}"] + alt_fraction_forms(x)
    return Problem("linear_eq", q, tex_frac(x), sol(p), sol(_slip(rng, p)), alts)


def gen_linear_two_sided(rng, variant=0):
    c = rng.randint(2, 6)
    a = c + rng.randint(1, 5)
    y = rng.randint(-8, 12)
    b = _nonzero(rng, -15, 15)
    d = (a - c) * y + b
    k = a - c
    if variant == 0:
        q = f"Solve for $y$: ${a}y {pm(b)} = {c}y {pm(d)}$."
    else:
        q = f"Which value of $y$ makes ${a}y {pm(b)} = {c}y {pm(d)}$ true?"

    def sol(rhs):
        return Sol([f"Subtract ${c}y$ from both sides: ${coef(k, 'y')} {pm(b)} = {d}$.",
                    f"Move the constant: ${coef(k, 'y')} = {d} {pm(-b)} = {rhs}$.",
                    f"So $y = {show_div(rhs, k)}$."],
                   tex_frac(Fraction(rhs, k)),
                   f"Collecting terms gives ${coef(k, 'y')} = {rhs}$, so "
                   f"$y = {tex_frac(Fraction(rhs, k))}$.")
    return Problem("linear_two_sided", q, str(y), sol(d - b),
                   sol(d - b + rng.choice((-k, k))), [f"y={y}"])


OPS = {"le": "\\le", "lt": "<"}


def gen_inequality(rng, variant=0):
    a = rng.randint(2, 5)
    lo_x = rng.randint(-5, 4)
    hi_x = lo_x + rng.randint(2, 6)
    b = _nonzero(rng, -9, 9)
    lo, hi = a * lo_x + b, a * hi_x + b
    left, right = (("le", "lt"), ("lt", "le"))[variant]   # [a,b) or (a,b]
    op1, op2 = OPS[left], OPS[right]
    if variant == 0:
        q = (f"Find all real numbers $x$ such that ${lo} {op1} {a}x {pm(b)} {op2} {hi}$. "
             f"Write the answer in interval notation.")
    else:
        q = (f"For which real $x$ does ${lo} {op1} {a}x {pm(b)} {op2} {hi}$ hold? Give the "
             f"solution set as an interval.")
    lb = "[" if left == "le" else "("
    rb = "]" if right == "le" else ")"

    def sol(upper):
        u = tex_frac(Fraction(upper, a))
        move = ("Subtract {0} from all three parts".format(b) if b > 0
                else "Add {0} to all three parts".format(-b))
        interval = f"{lb}{lo_x},{u}{rb}"
        return Sol([f"{move}: ${lo - b} {op1} {a}x {op2} {upper}$.",
                    f"Divide by {a}, which is positive, so the inequalities keep their "
                    f"direction: ${lo_x} {op1} x {op2} {u}$.",
                    f"In interval notation this is ${interval}$."],
                   interval,
                   f"Isolating $x$ gives ${lo_x} {op1} x {op2} {u}$, i.e. ${interval}$.")
    gold = f"{lb}{lo_x},{hi_x}{rb}"
    return Problem("inequality", q, gold, sol(hi - b), sol(_slip(rng, hi - b, (1,))),
                   [f"{lo_x} {op1} x {op2} {hi_x}"])


# --- quadratics --------------------------------------------------------------

def gen_quad_expand(rng, variant=0):
    a = _nonzero(rng, -7, 9)
    square = rng.random() < 0.5
    b = a if square else rng.choice([n for n in range(-7, 10) if n not in (0, a, -a)])
    if square:
        q = (f"Expand $(x {pm(a)})^2$." if variant == 0 else
             f"Write $(x {pm(a)})^2$ as a polynomial in standard form.")
        factored = f"(x{pm_tight(a)})^2"
    else:
        q = (f"Expand and simplify $(x {pm(a)})(x {pm(b)})$." if variant == 0 else
             f"Multiply $(x {pm(a)})(x {pm(b)})$ out and collect like terms.")
        factored = f"(x{pm_tight(a)})(x{pm_tight(b)})"
    gold = poly(1, a + b, a * b, spaced=False)

    def sol(const):
        return Sol(["Multiply term by term. First, $x \\cdot x = x^2$.",
                    f"The cross terms are ${coef(a, 'x')}$ and ${coef(b, 'x')}$, "
                    f"which combine to ${coef(a + b, 'x')}$.",
                    f"The constant term is ${paren(a)} \\cdot {paren(b)} = {const}$.",
                    f"Putting it together gives ${poly(1, a + b, const)}$."],
                   poly(1, a + b, const, spaced=False),
                   f"Expanding gives ${poly(1, a + b, const)}$.")
    reordered = f"{a * b}{pm_tight(a + b)}x+x^2".replace("+1x", "+x").replace("-1x", "-x")
    return Problem("quad_expand", q, gold, sol(a * b), sol(-a * b), [factored, reordered])


def gen_quad_roots(rng, variant=0):
    r1 = rng.randint(-6, 7)
    r2 = rng.randint(r1 + 1, 9)
    s, p = r1 + r2, r1 * r2
    k = r2 - r1
    if variant == 0:
        q = f"Find the larger root of ${poly(1, -s, p)} = 0$."
    else:
        q = f"The equation ${poly(1, -s, p)} = 0$ has two integer solutions. Which one is bigger?"

    def sol(big):
        return Sol([f"Use the quadratic formula with $b = {-s}$ and $c = {p}$.",
                    f"The discriminant is ${paren(-s)}^2 - 4 \\cdot {paren(p)} = "
                    f"{s * s} {pm(-4 * p)} = {k * k}$, and its square root is {k}.",
                    f"The roots are $\\frac{{{s} + {k}}}{{2}} = {big}$ and "
                    f"$\\frac{{{s} - {k}}}{{2}} = {r1}$.",
                    f"The larger root is ${big}$."],
                   str(big),
                   f"The roots are ${r1}$ and ${big}$, so the larger root is ${big}$.")
    return Problem("quad_roots", q, str(r2), sol(r2), sol(r2 + 1), [f"x={r2}"])


def gen_quad_vieta(rng):
    a = rng.randint(2, 6)
    b = _nonzero(rng, -15, 15)
    while True:
        c = _nonzero(rng, -10, 10)
        if b * b - 4 * a * c > 0:
            break
    total = Fraction(-b, a)
    disc = b * b - 4 * a * c
    q = f"What is the sum of the roots of ${poly(a, b, c)} = 0$?"

    def sol(value):
        return Sol([f"The discriminant is $b^2 - 4ac = {b * b} - {paren(4 * a * c)} = {disc}$, "
                    f"which is positive, so both roots are real.",
                    "By Vieta's formulas, the sum of the roots is $-\\frac{b}{a}$.",
                    f"Here $a = {a}$ and $b = {b}$, so the sum is ${tex_frac(value)}$."],
                   tex_frac(value),
                   f"By Vieta's formulas the sum of the roots is "
                   f"$-\\frac{{b}}{{a}} = {tex_frac(value)}$.")
    return Problem("quad_vieta", q, tex_frac(total), sol(total), sol(-total),
                   alt_fraction_forms(total))


# --- fractions ---------------------------------------------------------------

def _proper(rng, den):
    return rng.choice([n for n in range(1, den) if math.gcd(n, den) == 1])


def gen_frac_add(rng, variant=0):
    while True:
        b, d = rng.sample(range(2, 13), 2)
        a, c = _proper(rng, b), _proper(rng, d)
        lcd = b * d // math.gcd(b, d)
        n1, n2 = a * lcd // b, c * lcd // d
        total = Fraction(n1 + n2, lcd)
        if total.denominator != 1:
            break
    if variant == 0:
        q = (f"Compute $\\frac{{{a}}}{{{b}}} + \\frac{{{c}}}{{{d}}}$ and write the "
             f"result as a fraction in lowest terms.")
    else:
        q = (f"Add $\\frac{{{a}}}{{{b}}}$ and $\\frac{{{c}}}{{{d}}}$. Reduce your "
             f"answer completely.")

    def sol(num):
        return Sol([f"The least common denominator of {b} and {d} is {lcd}.",
                    f"Rewrite the fractions: $\\frac{{{a}}}{{{b}}} = \\frac{{{n1}}}{{{lcd}}}$ "
                    f"and $\\frac{{{c}}}{{{d}}} = \\frac{{{n2}}}{{{lcd}}}$.",
                    f"Adding the numerators, ${n1} + {n2} = {num}$, so the sum is "
                    f"$\\frac{{{num}}}{{{lcd}}}$.",
                    reduce_sentence(num, lcd)],
                   tex_frac(Fraction(num, lcd)),
                   f"Over the common denominator {lcd} the sum is ${tex_ratio(num, lcd)}$.")
    alts = alt_fraction_forms(total)
    if math.gcd(n1 + n2, lcd) > 1:
        alts.append(f"\\frac{{{n1 + n2}}}{{{lcd}}}")
    return Problem("frac_add", q, tex_frac(total), sol(n1 + n2),
                   sol(_slip(rng, n1 + n2, (1,))), alts)


def gen_frac_div(rng, variant=0):
    b, d = rng.sample(range(2, 10), 2)
    a, c = _proper(rng, b), _proper(rng, d)
    num, den = a * d, b * c
    value = Fraction(num, den)
    if variant == 0:
        q = f"Compute $\\frac{{{a}}}{{{b}}} \\div \\frac{{{c}}}{{{d}}}$."
    else:
        q = f"Divide $\\frac{{{a}}}{{{b}}}$ by $\\frac{{{c}}}{{{d}}}$ and simplify."

    def sol(n):
        return Sol(["Dividing by a fraction means multiplying by its reciprocal: "
                    f"$\\frac{{{a}}}{{{b}}} \\times \\frac{{{d}}}{{{c}}}$.",
                    f"The numerator is ${a} \\times {d} = {n}$ and the denominator is "
                    f"${b} \\times {c} = {den}$.",
                    reduce_sentence(n, den)],
                   tex_frac(Fraction(n, den)),
                   f"Multiplying by the reciprocal gives ${tex_ratio(n, den)}$.")
    return Problem("frac_div", q, tex_frac(value), sol(num), sol(_slip(rng, num, (1,))),
                   alt_fraction_forms(value))


# --- probability -------------------------------------------------------------

def gen_prob_marbles(rng, variant=0):
    r, bl, g = rng.randint(2, 9), rng.randint(2, 9), rng.randint(1, 7)
    total = r + bl + g
    not_blue = rng.random() < 0.5
    target = "not blue" if not_blue else "red"
    fav = r + g if not_blue else r
    value = Fraction(fav, total)
    if variant == 0:
        q = (f"A bag contains {r} red, {bl} blue, and {g} green marbles. One marble is "
             f"drawn at random. What is the probability that it is {target}?")
    else:
        q = (f"In a box there are {r} red, {bl} blue and {g} green beads. If you pick one "
             f"bead without looking, how likely is it to be {target}?")
    thing = "marbles" if variant == 0 else "beads"
    fav_step = (f"The {thing} that are not blue are the {r} red and {g} green ones, "
                f"${r} + {g} = {fav}$ in all." if not_blue else
                f"{r} of them are red.")

    def sol(t):
        return Sol([f"There are ${r} + {bl} + {g} = {t}$ {thing} in total.", fav_step,
                    f"So the probability is $\\frac{{{fav}}}{{{t}}}$.",
                    reduce_sentence(fav, t)],
                   tex_frac(Fraction(fav, t)),
                   f"The probability is ${tex_ratio(fav, t)}$.")
    return Problem("prob_marbles", q, tex_frac(value), sol(total),
                   sol(total + rng.choice((-1, 1))), alt_fraction_forms(value))


def gen_prob_dice(rng, variant=0):
    k = rng.choice([n for n in range(3, 12) if n != 7])
    pairs = [(i, k - i) for i in range(1, 7) if 1 <= k - i <= 6]
    ways = len(pairs)
    value = Fraction(ways, 36)
    listed = ", ".join(f"$({i},{j})$" for i, j in pairs)
    if variant == 0:
        q = (f"Two fair six-sided dice are rolled. What is the probability that the sum "
             f"of the numbers shown is {k}?")
    else:
        q = (f"Roll a pair of standard dice. How likely is it that the two faces add up "
             f"to {k}? Give the probability as a fraction.")

    def sol(w):
        return Sol(["There are $6 \\times 6 = 36$ equally likely outcomes.",
                    f"The ordered pairs that sum to {k} are {listed}, which is {w} outcomes.",
                    f"So the probability is $\\frac{{{w}}}{{36}}$.",
                    reduce_sentence(w, 36)],
                   tex_frac(Fraction(w, 36)),
                   f"{w} of the 36 outcomes work, so the probability is "
                   f"${tex_frac(Fraction(w, 36))}$.")
    return Problem("prob_dice", q, tex_frac(value), sol(ways),
                   sol(ways + 1 if ways < 5 else ways - 1), alt_fraction_forms(value))


def gen_prob_coins(rng):
    n = rng.randint(2, 5)
    k = rng.randint(0, n)
    count = math.comb(n, k)
    value = Fraction(count, 2 ** n)
    q = (f"A fair coin is flipped {n} times. What is the probability of getting "
         f"exactly {k} heads? Express your answer as a decimal.")

    def sol(c):
        dec = decimal_str(Fraction(c, 2 ** n))
        return Sol([f"Each flip has 2 outcomes, so there are $2^{n} = {2 ** n}$ equally "
                    f"likely sequences.",
                    f"The number of sequences with exactly {k} heads is "
                    f"$\\binom{{{n}}}{{{k}}} = {c}$.",
                    f"So the probability is $\\frac{{{c}}}{{{2 ** n}}} = {dec}$."],
                   dec,
                   f"The probability is $\\frac{{{c}}}{{{2 ** n}}} = {dec}$.")
    bad = count + 1 if count < 2 else count + rng.choice((-1, 1))
    return Problem("prob_coins", q, decimal_str(value), sol(count), sol(bad),
                   [tex_frac(value)])


# --- geometry ----------------------------------------------------------------

def gen_geo_rect(rng, variant=0):
    a, b = rng.sample(range(3, 16), 2)
    perim = 2 * (a + b)
    if variant == 0:
        q = (f"A rectangle has perimeter {perim} and one side of length {a}. "
             f"What is its area?")
    else:
        q = (f"A rectangular yard is enclosed by {perim} meters of fencing, and one of "
             f"its sides measures {a} meters. How many square meters does the yard cover?")

    def sol(area):
        return Sol([f"Half the perimeter is ${perim} \\div 2 = {a + b}$, the sum of two "
                    f"adjacent sides.",
                    f"So the other side is ${a + b} - {a} = {b}$.",
                    f"The area is ${a} \\times {b} = {area}$."],
                   str(area),
                   f"The sides are {a} and {b}, so the area is ${a} \\times {b} = {area}$.")
    return Problem("geo_rect", q, str(a * b), sol(a * b), sol(a * b + rng.choice((-10, 10))))


def gen_geo_triangle(rng):
    base, h = rng.randint(3, 14), rng.randint(2, 12)
    px = rng.randint(0, base)
    value = Fraction(base * h, 2)
    q = (f"A triangle has vertices at $(0,0)$, $({base},0)$, and $({px},{h})$. "
         f"What is its area?")

    def sol(prod):
        v = tex_frac(Fraction(prod, 2))
        return Sol([f"Take the side from $(0,0)$ to $({base},0)$ as the base; its length "
                    f"is {base}.",
                    f"The third vertex has $y$-coordinate {h}, so the height is {h}.",
                    f"The area is $\\frac{{1}}{{2}} \\times {base} \\times {h} = "
                    f"\\frac{{{prod}}}{{2}} = {v}$."],
                   v,
                   f"With base {base} and height {h}, the area is "
                   f"$\\frac{{1}}{{2}} \\cdot {base} \\cdot {h} = {v}$.")
    return Problem("geo_triangle", q, tex_frac(value), sol(base * h),
                   sol(base * h + rng.choice((-2, 2))), alt_fraction_forms(value))


def gen_geo_circle(rng):
    r = rng.randint(2, 12)
    if rng.random() < 0.5:
        q = f"A circle has circumference ${2 * r}\\pi$. What is its area?"
        first = (f"The circumference is $2\\pi r$, so $2\\pi r = {2 * r}\\pi$ gives "
                 f"$r = {r}$.")
    else:
        q = (f"A circle has diameter {2 * r}. What is its area? Express your answer "
             f"in terms of $\\pi$.")
        first = f"The radius is half the diameter, $r = {2 * r} \\div 2 = {r}$."

    def sol(sq):
        return Sol([first,
                    f"The area is $\\pi r^2 = \\pi \\cdot {r}^2 = {sq}\\pi$."],
                   f"{sq}\\pi",
                   f"With $r = {r}$ the area is $\\pi r^2 = {sq}\\pi$.")
    return Problem("geo_circle", q, f"{r * r}\\pi", sol(r * r),
                   sol(r * r + rng.choice((-2, 2))))


LEG_PAIRS = ((1, 1), (2, 4), (3, 3), (2, 6), (4, 8), (1, 3), (2, 3), (6, 8), (5, 12), (4, 6))


def gen_geo_hyp(rng, variant=0):
    a, b = rng.choice(LEG_PAIRS)
    sq = a * a + b * b
    if variant == 0:
        q = (f"A right triangle has legs of length {a} and {b}. What is the length of "
             f"its hypotenuse? Give the answer in simplest radical form.")
    else:
        q = (f"The two shorter sides of a right triangle measure {a} and {b}. How long "
             f"is the longest side? Simplify any radical.")

    def sol(n):
        k, m = simplify_sqrt(n)
        steps = [f"By the Pythagorean theorem, $c^2 = {a}^2 + {b}^2 = {a * a} + {b * b} = {n}$.",
                 f"So $c = \\sqrt{{{n}}}$."]
        if m == 1:
            steps.append(f"Since ${n} = {k}^2$, this is just ${k}$.")
        elif k > 1:
            steps.append(f"Since ${n} = {k * k} \\cdot {m}$, this simplifies to "
                         f"${tex_sqrt(n)}$.")
        else:
            steps.append(f"{n} has no square factor, so $\\sqrt{{{n}}}$ is already simplest.")
        return Sol(steps, tex_sqrt(n), f"The hypotenuse is $\\sqrt{{{n}}} = {tex_sqrt(n)}$."
                   if tex_sqrt(n) != f"\\sqrt{{{n}}}" else f"The hypotenuse is $\\sqrt{{{n}}}$.")
    k, m = simplify_sqrt(sq)
    alts = [f"\\sqrt{{{sq}}}"] if k > 1 and m > 1 else []
    return Problem("geo_hyp", q, tex_sqrt(sq), sol(sq), sol(sq + rng.choice((-1, 1))), alts)


def gen_geo_square_diag(rng):
    s = rng.randint(2, 12)
    area = s * s
    q = (f"A square has area {area}. What is the length of its diagonal? Give the "
         f"answer in simplest radical form.")

    def sol(side):
        return Sol([f"The side length is $\\sqrt{{{area}}} = {side}$.",
                    f"By the Pythagorean theorem the diagonal satisfies $d^2 = {side}^2 + "
                    f"{side}^2 = {2 * side * side}$.",
                    f"So $d = \\sqrt{{{2 * side * side}}} = {side}\\sqrt{{2}}$."],
                   f"{side}\\sqrt{{2}}",
                   f"The side is {side}, so the diagonal is ${side}\\sqrt{{2}}$.")
    return Problem("geo_square_diag", q, f"{s}\\sqrt{{2}}", sol(s), sol(s + 1),
                   [f"\\sqrt{{{2 * area}}}"])


# --- number theory -----------------------------------------------------------

def euclid_lines(x: int, y: int, first_rem: int | None = None) -> tuple[list[str], int]:
    lines = []
    while y:
        qt, r = divmod(x, y)
        if first_rem is not None:
            r, first_rem = first_rem, None
        lines.append(f"${x} = {qt} \\times {y} + {r}$")
        x, y = y, r
    return lines, x


def gen_nt_gcd(rng, variant=0):
    g = rng.randint(2, 15)
    while True:
        m, n = rng.sample(range(2, 16), 2)
        if math.gcd(m, n) == 1 and m > n:
            break
    a, b = g * m, g * n
    if variant == 0:
        q = f"What is the greatest common divisor of {a} and {b}?"
    else:
        q = f"Find the largest integer that divides both {a} and {b}."

    def sol(lines, result):
        return Sol(["Use the Euclidean algorithm.",
                    "The divisions are: " + ", ".join(lines) + ".",
                    f"The last nonzero remainder is {result}, so $\\gcd({a}, {b}) = {result}$."],
                   str(result),
                   f"The Euclidean algorithm gives $\\gcd({a}, {b}) = {result}$.")
    good_lines, _ = euclid_lines(a, b)
    true_rem = a % b
    for delta in (1, -1, 2, -2, 3):
        r = true_rem + delta
        if 0 < r < b:
            bad_lines, bad = euclid_lines(a, b, first_rem=r)
            if bad != g:
                break
    return Problem("nt_gcd", q, str(g), sol(good_lines, g), sol(bad_lines, bad))


def gen_nt_lcm(rng):
    while True:
        a, b = rng.sample(range(6, 31), 2)
        g = math.gcd(a, b)
        if g > 1 and a % b and b % a:
            break
    lcm = a * b // g
    q = (f"Two buses leave a station together. One returns every {a} minutes and "
         f"the other every {b} minutes. After how many minutes will both be back at "
         f"the station at the same time?")
    small = min(p for p in range(2, g + 1) if g % p == 0)
    bad_g = 1 if small == g else small

    def sol(gg):
        val = a * b // gg
        return Sol([f"We need the least common multiple of {a} and {b}.",
                    f"Their greatest common divisor is {gg}.",
                    f"So $\\operatorname{{lcm}}({a}, {b}) = \\frac{{{a} \\times {b}}}{{{gg}}} = "
                    f"\\frac{{{a * b}}}{{{gg}}} = {val}$."],
                   str(val),
                   f"The answer is $\\operatorname{{lcm}}({a}, {b}) = {val}$ minutes.")
    return Problem("nt_lcm", q, str(lcm), sol(g), sol(bad_g))


def gen_nt_power_mod(rng, variant=0):
    while True:
        m = rng.choice((5, 7, 9, 11))
        a = rng.randint(2, 12)
        if math.gcd(a, m) == 1 and a % m != 1:
            break
    n = rng.randint(20, 99)
    powers = [pow(a, i, m) for i in range(1, m + 1)]
    order = powers.index(1) + 1
    qt, r = divmod(n, order)
    if variant == 0:
        q = f"What is the remainder when ${a}^{{{n}}}$ is divided by {m}?"
    else:
        q = f"Find the remainder of ${a}^{{{n}}}$ upon division by {m}."
    listed = ", ".join(f"${a}^{{{i}}} \\equiv {powers[i - 1]}$" for i in range(1, order + 1))

    def sol(rem):
        exp = rem if rem else order
        val = pow(a, exp, m)
        return Sol([f"Compute powers of {a} modulo {m}: {listed}.",
                    f"The pattern repeats every {order} steps.",
                    f"Since ${n} = {qt} \\cdot {order} + {rem}$, we get "
                    f"${a}^{{{n}}} \\equiv {a}^{{{exp}}} \\equiv {val} \\pmod{{{m}}}$."],
                   str(val),
                   f"The powers of {a} repeat with period {order} modulo {m}, so the "
                   f"remainder is ${val}$.")
    return Problem("nt_power_mod", q, str(pow(a, n, m)), sol(r), sol((r + 1) % order))


def gen_nt_sum_mod(rng):
    n = rng.randint(20, 120)
    m = rng.choice((6, 7, 8, 9, 11, 12, 13))
    total = n * (n + 1) // 2
    q = (f"What is the remainder when $1 + 2 + 3 + \\cdots + {n}$ is divided by {m}?")

    def sol(s):
        return Sol([f"The sum of the first {n} positive integers is $\\frac{{n(n+1)}}{{2}} = "
                    f"\\frac{{{n} \\cdot {n + 1}}}{{2}} = {s}$.",
                    f"Dividing by {m}: ${s} = {m} \\times {s // m} + {s % m}$.",
                    f"So the remainder is {s % m}."],
                   str(s % m),
                   f"The sum is {s}, which leaves remainder ${s % m}$ when divided by {m}.")
    return Problem("nt_sum_mod", q, str(total % m), sol(total), sol(total + rng.choice((-1, 1))))


# --- sequences ---------------------------------------------------------------

def gen_seq_arith_term(rng, variant=0):
    a1, d, n = rng.randint(-10, 20), _nonzero(rng, -6, 9), rng.randint(10, 40)
    value = a1 + (n - 1) * d
    if variant == 0:
        q = (f"An arithmetic sequence has first term {a1} and common difference {d}. "
             f"What is its {ordinal(n)} term?")
    else:
        q = (f"The terms of an arithmetic progression start at {a1} and change by {d} at "
             f"each step. Which number is in position {n}?")

    def sol(prod):
        return Sol(["The $n$th term of an arithmetic sequence is $a_1 + (n-1)d$.",
                    f"Here $(n-1)d = {n - 1} \\cdot {paren(d)} = {prod}$.",
                    f"So the term is ${a1} + {paren(prod)} = {a1 + prod}$."],
                   str(a1 + prod),
                   f"The {ordinal(n)} term is ${a1} + {n - 1} \\cdot {paren(d)} = {a1 + prod}$.")
    return Problem("seq_arith_term", q, str(value), sol((n - 1) * d), sol(n * d))


def gen_seq_arith_sum(rng):
    a, d, n = rng.randint(1, 15), rng.randint(2, 7), rng.randint(8, 30)
    last = a + (n - 1) * d
    q = (f"Find the sum of the first {n} terms of the arithmetic sequence "
         f"${a}, {a + d}, {a + 2 * d}, \\ldots$.")

    def sol(end):
        s = n * (a + end) // 2 if n * (a + end) % 2 == 0 else Fraction(n * (a + end), 2)
        return Sol([f"The first term is {a} and the common difference is {d}.",
                    f"The {ordinal(n)} term is ${a} + {n - 1} \\cdot {d} = {end}$.",
                    f"The sum is $\\frac{{n(a_1 + a_n)}}{{2}} = "
                    f"\\frac{{{n} \\cdot {a + end}}}{{2}} "
                    f"= {tex_frac(s)}$."],
                   tex_frac(s),
                   f"Using $S = \\frac{{n(a_1 + a_n)}}{{2}}$ gives ${tex_frac(s)}$.")
    return Problem("seq_arith_sum", q, str(n * (a + last) // 2), sol(last), sol(last + d))


def gen_seq_geom_term(rng, variant=0):
    a, r, n = rng.randint(1, 5), rng.choice((2, 3, -2, 4)), rng.randint(5, 8)
    if variant == 0:
        q = (f"A geometric sequence begins ${a}, {a * r}, {a * r * r}, \\ldots$. "
             f"What is its {ordinal(n)} term?")
    else:
        q = (f"Each term of the list ${a}, {a * r}, {a * r * r}, \\ldots$ is a fixed "
             f"multiple of the one before it. Find term number {n}.")

    def sol(e):
        return Sol([f"The common ratio is ${a * r} \\div {a} = {r}$.",
                    f"The $n$th term is $a_1 r^{{n-1}}$, so we need "
                    f"${paren(r)}^{{{n - 1}}} = {r ** e}$.",
                    f"The term is ${a} \\cdot {paren(r ** e)} = {a * r ** e}$."],
                   str(a * r ** e),
                   f"The {ordinal(n)} term is ${a} \\cdot {paren(r)}^{{{n - 1}}} = {a * r ** e}$.")
    return Problem("seq_geom_term", q, str(a * r ** (n - 1)), sol(n - 1), sol(n))


def gen_seq_fib_like(rng):
    p, s, k = rng.randint(1, 9), rng.randint(1, 9), rng.randint(7, 10)
    q = (f"A sequence satisfies $a_1 = {p}$, $a_2 = {s}$, and $a_n = a_{{n-1}} + a_{{n-2}}$ "
         f"for $n \\ge 3$. What is $a_{{{k}}}$?")

    def sol(slip_at):
        terms = [p, s]
        lines = []
        for i in range(3, k + 1):
            val = terms[-1] + terms[-2] + (1 if i == slip_at else 0)
            lines.append(f"$a_{{{i}}} = {terms[-1]} + {terms[-2]} = {val}$")
            terms.append(val)
        return Sol(["Compute the terms one at a time.",
                    ", ".join(lines) + "."],
                   str(terms[-1]),
                   f"Adding the previous two terms repeatedly gives $a_{{{k}}} = {terms[-1]}$.")
    good = sol(None)
    return Problem("seq_fib_like", q, good.answer, good, sol(rng.randint(4, k - 1)))


# --- percentages -------------------------------------------------------------

def gen_pct_discount(rng, variant=0):
    price = 20 * rng.randint(2, 20)
    d = rng.choice((10, 15, 20, 25, 30, 35, 40))
    disc = Fraction(price * d, 100)
    sale = price - disc
    if variant == 0:
        q = (f"A jacket is priced at {price} dollars and is on sale for {d}% off. "
             f"What is the sale price in dollars?")
    else:
        q = (f"During a sale, a store takes {d}% off a lamp that normally sells for "
             f"{price} dollars. How much does the lamp cost on sale, in dollars?")

    def sol(off):
        rest = f"${price} - {decimal_str(off)} = {decimal_str(price - off)}$"
        return Sol([f"The discount is ${d}\\%$ of {price}, which is "
                    f"${price} \\times {decimal_str(Fraction(d, 100))} = {decimal_str(off)}$.",
                    f"The sale price is {rest}."],
                   decimal_str(price - off),
                   f"The sale price is {rest} dollars.")
    alts = [tex_frac(sale)] if sale.denominator != 1 else []
    return Problem("pct_discount", q, decimal_str(sale), sol(disc),
                   sol(disc + rng.choice((-10, 10))), alts)


def gen_pct_change(rng):
    price = 20 * rng.randint(2, 25)
    up = rng.choice((10, 20, 25, 50))
    down = rng.choice((10, 20, 25, 40))
    after = Fraction(price * (100 + up), 100)
    final = after * Fraction(100 - down, 100)
    q = (f"The price of a bicycle is {price} dollars. The price is raised by {up}% and "
         f"later the new price is lowered by {down}%. What is the final price in dollars?")
    up_f, down_f = decimal_str(Fraction(100 + up, 100)), decimal_str(Fraction(100 - down, 100))

    def sol(mid):
        end = mid * Fraction(100 - down, 100)
        mid_s, end_s = decimal_str(mid), decimal_str(end)
        return Sol([f"After the increase the price is ${price} \\times {up_f} = {mid_s}$.",
                    f"After the decrease it is ${mid_s} \\times {down_f} = {end_s}$."],
                   end_s,
                   f"The final price is ${price} \\times {up_f} \\times {down_f} = {end_s}$ "
                   f"dollars.")
    alts = [tex_frac(final)] if final.denominator != 1 else []
    return Problem("pct_change", q, decimal_str(final), sol(after),
                   sol(after + rng.choice((-10, 10))), alts)


def gen_pct_whatpercent(rng, variant=0):
    while True:
        y = rng.randint(20, 400)
        p = rng.choice((5, 10, 12, 15, 20, 25, 30, 40, 45, 60, 75, 80))
        if y * p % 100 == 0:
            break
    x = y * p // 100
    if variant == 0:
        q = f"What percent of {y} is {x}?"
    else:
        q = f"Express {x} as a percentage of {y}."

    def sol(pct):
        return Sol([f"The fraction is $\\frac{{{x}}}{{{y}}} = {tex_frac(Fraction(x, y))}$.",
                    f"As a percentage, $\\frac{{{x}}}{{{y}}} \\times 100 = {pct}$."],
                   str(pct),
                   f"Since $\\frac{{{x}}}{{{y}}} = {tex_frac(Fraction(x, y))}$, the answer is "
                   f"{pct} percent.")
    return Problem("pct_whatpercent", q, str(p), sol(p), sol(p + rng.choice((-5, 5))),
                   [f"{p}\\%"])


# The base problems cycle through these kinds in this fixed order, so the
# uid -> kind mapping (and hence the PLANTS table) is stable.  The first 20
# kinds appear twice; their second instance is worded differently so that
# only the planted near-duplicates read alike.
KINDS = (
    gen_arith_total, gen_linear_eq, gen_frac_add, gen_prob_dice, gen_geo_rect,
    gen_nt_gcd, gen_seq_arith_term, gen_pct_discount, gen_quad_expand, gen_arith_seats,
    gen_inequality, gen_prob_marbles, gen_geo_hyp, gen_nt_power_mod, gen_seq_geom_term,
    gen_pct_whatpercent, gen_quad_roots, gen_arith_share, gen_linear_two_sided, gen_frac_div,
    gen_prob_coins, gen_geo_circle, gen_nt_lcm, gen_seq_arith_sum, gen_pct_change,
    gen_geo_triangle, gen_quad_vieta, gen_nt_sum_mod, gen_seq_fib_like, gen_geo_square_diag,
)


# ---------------------------------------------------------------------------
# Mini benchmark (stand-in evaluation set for decontamination tests)
# ---------------------------------------------------------------------------

def garden_problem(path_area: int) -> tuple[str, str, list[str]]:
    """mb-01, parametrised so a one-constant-changed copy can be made."""
    w = Fraction(path_area - 16, 16)
    text = ("A rectangular garden is three times as long as it is wide, and a gravel "
            "path 2 meters wide surrounds it on all sides. If the area of the path "
            f"alone is {path_area} square meters, what is the width of the garden in meters?")
    steps = ["Let the width be $w$, so the length is $3w$.",
             "With the path, the outer rectangle measures $(w+4)$ by $(3w+4)$.",
             "The path area is $(w+4)(3w+4) - 3w^2 = 16w + 16$.",
             f"Setting $16w + 16 = {path_area}$ gives $16w = {path_area - 16}$, so "
             f"$w = {tex_frac(w)}$."]
    return text, tex_frac(w), steps


BENCHMARK = [
    # (id, problem, answer, solution steps)
    ("mb-01",) + garden_problem(144),
    ("mb-02", "How many positive integers less than 500 are divisible by 3 or by 7, "
              "but not by both?", "191",
     ["Multiples of 3 below 500: $\\lfloor 499/3 \\rfloor = 166$.",
      "Multiples of 7 below 500: $\\lfloor 499/7 \\rfloor = 71$.",
      "Multiples of both, i.e. of 21: $\\lfloor 499/21 \\rfloor = 23$.",
      "Exactly one of the two: $166 + 71 - 2 \\cdot 23 = 191$."]),
    ("mb-03", "Let $f(x) = 2x^2 - 5x + 3$. What is the sum of all real values of $x$ "
              "for which $f(f(x)) = 0$?", "5",
     ["The roots of $f(y) = 0$ are $y = 1$ and $y = \\frac{3}{2}$.",
      "$f(x) = 1$ means $2x^2 - 5x + 2 = 0$, with two real roots summing to $\\frac{5}{2}$.",
      "$f(x) = \\frac{3}{2}$ means $2x^2 - 5x + \\frac{3}{2} = 0$; its discriminant is "
      "$25 - 12 = 13 > 0$, and its roots also sum to $\\frac{5}{2}$.",
      "All four roots are distinct, so the total is $5$."]),
    ("mb-04", "A jar holds 4 red, 5 green, and 6 yellow candies. Two candies are drawn "
              "at random without replacement. What is the probability that the two "
              "candies are different colors?", "\\frac{74}{105}",
     ["There are $\\binom{15}{2} = 105$ ways to draw two candies.",
      "Same-color pairs: $\\binom{4}{2} + \\binom{5}{2} + \\binom{6}{2} = 6 + 10 + 15 = 31$.",
      "So $105 - 31 = 74$ pairs have different colors, and the probability is "
      "$\\frac{74}{105}$."]),
    ("mb-05", "An infinite geometric series has first term $\\frac{3}{4}$ and sum "
              "$\\frac{9}{2}$. Find the common ratio of the series and express it as a "
              "common fraction.", "\\frac{5}{6}",
     ["For an infinite geometric series, $S = \\frac{a}{1-r}$.",
      "So $1 - r = \\frac{a}{S} = \\frac{3}{4} \\cdot \\frac{2}{9} = \\frac{1}{6}$.",
      "Therefore $r = \\frac{5}{6}$."]),
    ("mb-06", "In triangle $ABC$ the side lengths are $AB = 13$, $BC = 14$, and "
              "$CA = 15$. What is the length of the altitude from $A$ to side $BC$?", "12",
     ["The semiperimeter is $21$, so by Heron's formula the area is "
      "$\\sqrt{21 \\cdot 8 \\cdot 7 \\cdot 6} = 84$.",
      "The altitude to $BC$ is $\\frac{2 \\cdot 84}{14} = 12$."]),
    ("mb-07", "What is the smallest positive integer that leaves a remainder of 2 when "
              "divided by 5, a remainder of 3 when divided by 7, and a remainder of 4 "
              "when divided by 9?", "157",
     ["Numbers that are 4 mod 9: 4, 13, 22, 31, ...; the first that is 3 mod 7 is 31.",
      "So the number is $31 + 63t$; we need it to be 2 mod 5.",
      "$31 \\equiv 1$, $94 \\equiv 4$, $157 \\equiv 2 \\pmod 5$, so the answer is 157."]),
    ("mb-08", "Compute $17 \\cdot 23$.", "391",
     ["$17 \\cdot 23 = 17 \\cdot 20 + 17 \\cdot 3 = 340 + 51 = 391$."]),
    ("mb-09", "What is $\\gcd(252, 198)$?", "18",
     ["$252 = 1 \\cdot 198 + 54$, $198 = 3 \\cdot 54 + 36$, $54 = 1 \\cdot 36 + 18$, "
      "$36 = 2 \\cdot 18$.", "So the gcd is 18."]),
    ("mb-10", "A train leaves a station at 9:00 traveling at 60 kilometers per hour. A "
              "second train leaves the same station at 10:30 on a parallel track in the "
              "same direction at 90 kilometers per hour. How many hours after 9:00 does "
              "the second train catch up with the first?", "4.5",
     ["Let $t$ be hours after 9:00. The first train has gone $60t$ km.",
      "The second has gone $90(t - 1.5)$ km.",
      "Setting $60t = 90t - 135$ gives $t = 4.5$."]),
    ("mb-11", "Find the number of ordered pairs of positive integers $(a, b)$ such that "
              "$a + b \\le 10$ and $a$ is a multiple of $b$.", "17",
     ["For $b = 1$: $a = 1..9$, 9 pairs. For $b = 2$: $a = 2, 4, 6, 8$, 4 pairs.",
      "For $b = 3$: $a = 3, 6$, 2 pairs. For $b = 4$: $a = 4$. For $b = 5$: $a = 5$.",
      "Larger $b$ give none, so the total is $9 + 4 + 2 + 1 + 1 = 17$."]),
    ("mb-12", "The polynomial $p(x) = x^3 - 6x^2 + 11x - 6$ has three real roots. What "
              "is the sum of the squares of its roots?", "14",
     ["By Vieta, $r_1 + r_2 + r_3 = 6$ and $r_1 r_2 + r_2 r_3 + r_3 r_1 = 11$.",
      "So $\\sum r_i^2 = 6^2 - 2 \\cdot 11 = 14$."]),
]


def bench_by_id() -> dict[str, tuple[str, str, list[str]]]:
    return {b[0]: (b[1], b[2], b[3]) for b in BENCHMARK}


def leak_problems() -> dict[str, Problem]:
    """The five benchmark-derived training problems (see LEAKS)."""
    bench = bench_by_id()

    def from_bench(question, answer, steps):
        sol = Sol(list(steps), answer, steps[-1])
        return Problem("leak", question, answer, sol, sol)

    verbatim = bench["mb-02"]
    mb05 = bench["mb-05"]
    reformatted = ("an  INFINITE geometric series has first term $\\frac {3}{4}$ and sum "
                   "$\\frac {9} {2}$.\nfind the Common Ratio of the series  and express "
                   "it as a common fraction. ")
    assert reformatted.lower().split() != mb05[0].lower().split()
    mb04 = bench["mb-04"]
    embedded = ("At a school fair, one booth runs a guessing game built around a jar of "
                "candies. " + mb04[0] + " Give your answer as a fraction in lowest terms, "
                "and briefly explain how you counted the pairs.")
    short = bench["mb-08"]
    near_text, near_answer, near_steps = garden_problem(176)
    return {
        "m-leak-01": from_bench(*verbatim),
        "m-leak-02": from_bench(reformatted, mb05[1], mb05[2]),
        "m-leak-03": from_bench(embedded, mb04[1], mb04[2]),
        "m-leak-04": from_bench(*short),
        "m-near-const-01": from_bench(near_text, near_answer, near_steps),
    }


# ---------------------------------------------------------------------------
# Near-duplicate problem text
# ---------------------------------------------------------------------------

MATH_SPLIT = re.compile(r"(\$[^$]*\$)")

# (old, new) word swaps used to reword a near-duplicate; only applied to the
# text outside $...$ so the mathematics is untouched.
SWAPS = (
    ("in total", "altogether"), ("What is the", "Determine the"),
    ("Find the", "Determine the"), ("Solve for", "Find the value of"),
    ("Expand and simplify", "Multiply out and simplify"), ("Expand", "Multiply out"),
    ("rolled", "thrown"), ("at random", "randomly"), ("probability", "chance"),
    ("Express your answer", "Write your answer"), ("farmer", "grower"),
    ("greatest common divisor", "largest common factor"), ("jacket", "coat"),
    ("sequence", "progression"), ("is priced at", "costs"), ("fills", "packs"),
    ("divides", "splits"), ("shops", "stores"), ("theater", "cinema"),
    ("bicycle", "scooter"), ("set aside", "kept in reserve"),
)


def _outside_math(text: str, fn) -> str:
    parts = MATH_SPLIT.split(text)
    return "".join(p if i % 2 else fn(p) for i, p in enumerate(parts))


def reword(text: str, rng: random.Random) -> str:
    """A near-duplicate: two phrases swapped, whitespace and case jittered."""
    swapped = 0

    def swap(chunk: str) -> str:
        nonlocal swapped
        for old, new in SWAPS:
            if swapped < 2 and old in chunk:
                chunk = chunk.replace(old, new)
                swapped += 1
        return chunk
    out = _outside_math(text, swap)
    assert swapped >= 2, f"too few swaps for near-duplicate: {text!r}"
    out = _outside_math(out, lambda s: s.replace(". ", ".  ", 1))
    out = out[0].lower() + out[1:] if out[0].isalpha() else out
    return "  " + out + "\n" if rng.random() < 0.5 else out + "  "


def case_space_copy(text: str) -> str:
    """An exact duplicate up to whitespace and letter case."""
    out = _outside_math(text, lambda s: s.upper().replace(" ", "  "))
    return " " + out + " \n"


# ---------------------------------------------------------------------------
# Trace rendering
# ---------------------------------------------------------------------------

OPENERS = (
    "Let me work through this step by step.",
    "Okay, let me figure this out carefully.",
    "I'll start by writing down what is given.",
    "Let's see what the problem is asking.",
    "Alright, I need to compute this.",
    "First, let me restate the problem to myself and then solve it.",
)
CHECKS = (
    "Let me double-check the arithmetic once more. It holds up.",
    "That looks consistent with the setup.",
    "Quick sanity check: the size of the result seems reasonable.",
    None, None,
)
ALT_NOTES = (
    "I can also write this as ${alt}$.",
    "Equivalently, this is ${alt}$.",
    "Written another way, the answer is ${alt}$.",
)
NO_ANSWER_ENDINGS = (
    "I worked through the setup above, and the remaining steps follow the same pattern.",
    "The approach above settles the problem once the arithmetic is carried out.",
)

MODES = ("correct", "alt", "wrong", "truncated", "final_sentence", "no_answer")


def render_math(problem: Problem, mode: str, rng: random.Random) -> tuple[str, str]:
    """Return (generation, finish_reason) for one sampled trace."""
    sol = problem.bad if mode == "wrong" else problem.good
    answer = sol.answer
    paras = [rng.choice(OPENERS)] + list(sol.steps)
    check = rng.choice(CHECKS)
    if check:
        paras.append(check)
    if mode == "alt":
        answer = rng.choice(problem.alts)
        paras.append(rng.choice(ALT_NOTES).replace("{alt}", answer))
    if mode != "no_answer":
        paras.append(f"So the answer is ${answer}$.")
    think = "\n\n".join(paras)

    if mode == "truncated":
        cuts = [i for i in range(int(len(think) * 0.3), int(len(think) * 0.85))
                if think[i] == " " and think[i - 1].isalnum()]
        return "<think>\n" + think[:rng.choice(cuts)], "length"
    if mode == "final_sentence":
        final = f"{sol.summary} The final answer is {answer}."
    elif mode == "no_answer":
        final = rng.choice(NO_ANSWER_ENDINGS)
    else:
        final = f"{sol.summary} The answer is $\\boxed{{{answer}}}$."
    return f"<think>\n{think}\n</think>\n\n{final}", "stop"


def assign_modes(rows: list[tuple[str, int, Problem]], clean: set[str],
                 rng: random.Random) -> dict[tuple[str, int], str]:
    """Choose which traces carry which fault (exact, seeded counts)."""
    n = len(rows)
    targets = (("alt", 12, lambda p: bool(p.alts)),
               ("final_sentence", 3, lambda p: p.integer_gold),
               ("no_answer", 2, lambda p: True),
               ("wrong", round(0.15 * n), lambda p: True),
               ("truncated", round(0.08 * n), lambda p: True))
    free = [(uid, s, p) for uid, s, p in rows if uid not in clean]
    modes: dict[tuple[str, int], str] = {}
    for mode, count, ok in targets:
        pool = [r for r in free if ok(r[2]) and (r[0], r[1]) not in modes]
        for uid, s, _ in rng.sample(pool, count):
            modes[(uid, s)] = mode
    return modes


def build_math_problems(rng: random.Random) -> dict[str, Problem]:
    problems: dict[str, Problem] = {}
    seen: list[tuple] = []
    for i in range(N_BASE_MATH):
        gen = KINDS[i % len(KINDS)]
        while True:
            # the second pass over KINDS uses each kind's alternative wording
            p = gen(rng) if i < len(KINDS) else gen(rng, variant=1)
            # same kind + same numbers would be an unplanted duplicate
            key = (p.kind, tuple(re.findall(r"\d+", p.question)))
            if key not in seen:
                break
        seen.append(key)
        problems[f"m-{i + 1:03d}"] = p
    for uid, src in NEAR_DUPS.items():
        p = problems[src]
        problems[uid] = Problem(p.kind, reword(p.question, rng), p.gold, p.good, p.bad, p.alts)
    for uid, src in EXACT_DUPS.items():
        p = problems[src]
        problems[uid] = Problem(p.kind, case_space_copy(p.question), p.gold, p.good, p.bad, p.alts)
    problems.update(leak_problems())
    return problems


def build_math(rng: random.Random) -> tuple[list[dict], list[tuple[str, int, str]]]:
    """Rows for math.jsonl plus the list of (uid, sample, fault) plants."""
    problems = build_math_problems(rng)
    samples = [(uid, s, p) for uid, p in problems.items()
               for s in range(rng.choice((1, 1, 2, 2, 2, 3, 3, 4)))]
    clean = set(LEAKS) | {BAD_GOLD_UID}
    modes = assign_modes(samples, clean, rng)
    rows, faults = [], []
    for uid, s, p in samples:
        mode = modes.get((uid, s), "correct")
        generation, finish = render_math(p, mode, rng)
        rows.append({"uid": uid, "question": p.question,
                     "gold": BAD_GOLD if uid == BAD_GOLD_UID else p.gold,
                     "sample": s, "generation": generation,
                     "finish_reason": finish, "teacher": TEACHER})
        if mode != "correct":
            faults.append((uid, s, mode))
    return rows, faults


# ---------------------------------------------------------------------------
# Code problems
# ---------------------------------------------------------------------------

@dataclass
class CodeProblem:
    uid: str
    question: str
    tests: dict
    approach: str        # reasoning inside <think>
    explain: str         # sentence before the code block
    code: str            # correct solution
    wrong: str = ""      # buggy solution (if used)
    samples: tuple = ("ok",)   # mode of each sample: ok / wrong / hang / truncated


def functional(entry: str, asserts: list[str]) -> dict:
    body = "".join(f"    assert {a}\n" for a in asserts)
    return {"type": "functional", "entry_point": entry, "test": f"def check(candidate):\n{body}"}


def stdio(pairs: list[tuple[str, str]]) -> dict:
    return {"type": "stdio", "tests": [{"input": i, "output": o} for i, o in pairs]}


def call(fn: str, cases: list[tuple[list, object]]) -> dict:
    return {"type": "call", "fn_name": fn,
            "tests": [{"args": a, "expected": e} for a, e in cases]}


CODE_PROBLEMS = [
    CodeProblem(
        "c-001",
        "Write a function `is_palindrome(s)` that returns `True` if the string reads "
        "the same forwards and backwards when case and every character that is not a "
        "letter or digit are ignored, and `False` otherwise.",
        functional("is_palindrome", ['candidate("Racecar") is True',
                                     'candidate("Was it a car or a cat I saw?") is True',
                                     'candidate("hello") is False',
                                     'candidate("") is True']),
        "I should keep only alphanumeric characters and lower-case them. Then the string "
        "is a palindrome exactly when that cleaned list equals its reverse.",
        "Filter to letters and digits, normalise case, and compare with the reverse.",
        "def is_palindrome(s):\n"
        "    cleaned = [ch.lower() for ch in s if ch.isalnum()]\n"
        "    return cleaned == cleaned[::-1]\n",
        wrong="def is_palindrome(s):\n"
              "    cleaned = [ch for ch in s if ch.isalnum()]\n"
              "    return cleaned == cleaned[::-1]\n",
        samples=("ok", "wrong")),
    CodeProblem(
        "c-002",
        "Write a function `sum_of_evens(nums)` that returns the sum of the even "
        "numbers in the list `nums`.",
        functional("sum_of_evens", ["candidate([1, 2, 3, 4]) == 6", "candidate([]) == 0",
                                    "candidate([-2, 5, 8]) == 6", "candidate([1, 3, 5]) == 0"]),
        "Loop over the numbers and add those divisible by 2. Negative even numbers count "
        "too, and Python's modulo gives 0 for them.",
        "A generator expression with a parity test does the job.",
        "def sum_of_evens(nums):\n"
        "    return sum(n for n in nums if n % 2 == 0)\n"),
    CodeProblem(
        "c-003",
        "Write a function `count_vowels(s)` that returns how many vowels (a, e, i, o, u, "
        "in either case) the string `s` contains.",
        functional("count_vowels", ['candidate("Hello World") == 3', 'candidate("AEIOU") == 5',
                                    'candidate("rhythm") == 0', 'candidate("") == 0']),
        "Upper-case vowels count as well, so I'll lower-case each character before "
        "checking membership in the vowel string.",
        "Count characters whose lower-case form is a vowel.",
        "def count_vowels(s):\n"
        "    return sum(1 for ch in s if ch.lower() in \"aeiou\")\n",
        samples=("ok", "ok")),
    CodeProblem(
        "c-004",
        "Write a function `fizzbuzz(n)` that returns a list of strings for the numbers "
        "1 to `n` inclusive: \"Fizz\" for multiples of 3, \"Buzz\" for multiples of 5, "
        "\"FizzBuzz\" for multiples of both, and the number itself otherwise.",
        functional("fizzbuzz", ['candidate(5) == ["1", "2", "Fizz", "4", "Buzz"]',
                                'candidate(15)[-1] == "FizzBuzz"', "len(candidate(15)) == 15",
                                "candidate(0) == []"]),
        "Check divisibility by 15 first, then 3, then 5. The range must include n "
        "itself.",
        "Build the list with the usual FizzBuzz rules, testing 15 first.",
        "def fizzbuzz(n):\n"
        "    out = []\n"
        "    for i in range(1, n + 1):\n"
        "        if i % 15 == 0:\n"
        "            out.append(\"FizzBuzz\")\n"
        "        elif i % 3 == 0:\n"
        "            out.append(\"Fizz\")\n"
        "        elif i % 5 == 0:\n"
        "            out.append(\"Buzz\")\n"
        "        else:\n"
        "            out.append(str(i))\n"
        "    return out\n",
        samples=("ok", "ok")),
    CodeProblem(
        "c-005",
        "Write a function `second_largest(nums)` that returns the second largest "
        "distinct value in `nums`, or `None` if there are fewer than two distinct values.",
        functional("second_largest", ["candidate([3, 1, 4, 4]) == 3", "candidate([7, 7]) is None",
                                      "candidate([-1, -5, -3]) == -3", "candidate([]) is None"]),
        "Duplicates must not count twice, so I'll take the distinct values, sort them, "
        "and pick the second from the end if it exists.",
        "Deduplicate, sort, and return the second-largest value when there is one.",
        "def second_largest(nums):\n"
        "    values = sorted(set(nums))\n"
        "    if len(values) < 2:\n"
        "        return None\n"
        "    return values[-2]\n",
        wrong="def second_largest(nums):\n"
              "    values = sorted(nums)\n"
              "    if len(values) < 2:\n"
              "        return None\n"
              "    return values[-2]\n",
        samples=("wrong",)),
    CodeProblem(
        "c-006",
        "Write a function `running_max(nums)` that returns a list whose i-th element is "
        "the maximum of `nums[0..i]`.",
        functional("running_max", ["candidate([1, 3, 2, 5, 4]) == [1, 3, 3, 5, 5]",
                                   "candidate([]) == []", "candidate([-2, -3]) == [-2, -2]"]),
        "Keep the best value seen so far and append it at each position.",
        "Track the current maximum while scanning once.",
        "def running_max(nums):\n"
        "    out = []\n"
        "    best = None\n"
        "    for n in nums:\n"
        "        best = n if best is None or n > best else best\n"
        "        out.append(best)\n"
        "    return out\n"),
    CodeProblem(
        "c-007",
        "Write a function `digit_sum(n)` that returns the sum of the decimal digits of "
        "the integer `n` (ignore the sign).",
        functional("digit_sum", ["candidate(1234) == 10", "candidate(0) == 0",
                                 "candidate(-907) == 16"]),
        "Take the absolute value, then repeatedly add n % 10 and integer-divide by 10 "
        "until nothing is left.",
        "Peel off the last digit until the number reaches zero.",
        "def digit_sum(n):\n"
        "    n = abs(n)\n"
        "    total = 0\n"
        "    while n > 0:\n"
        "        total += n % 10\n"
        "        n //= 10\n"
        "    return total\n",
        wrong="def digit_sum(n):\n"
              "    n = abs(n)\n"
              "    total = 0\n"
              "    while True:\n"
              "        pass\n"
              "    return total\n",
        samples=("ok", "hang")),
    CodeProblem(
        "c-008",
        "Read two integers from one line of standard input and print their sum.",
        stdio([("3 4\n", "7\n"), ("-5 12\n", "7\n"), ("100 250\n", "350\n")]),
        "Split the line, convert both parts to int, add, print.",
        "Parse the two numbers and print the sum.",
        "a, b = map(int, input().split())\n"
        "print(a + b)\n",
        wrong="a, b = map(int, input().split())\n"
              "print(a - b)\n",
        samples=("ok", "wrong")),
    CodeProblem(
        "c-009",
        "The first line of input holds an integer n, the second line n integers. Print "
        "the difference between the largest and the smallest of them.",
        stdio([("5\n3 9 1 7 4\n", "8\n"), ("1\n42\n", "0\n"), ("3\n-4 0 6\n", "10\n")]),
        "Read n, read the list, and print max minus min. With a single number the "
        "answer is 0.",
        "Compute the range of the numbers.",
        "n = int(input())\n"
        "nums = list(map(int, input().split()))[:n]\n"
        "print(max(nums) - min(nums))\n"),
    CodeProblem(
        "c-010",
        "Read a line of text and print its words in reverse order, separated by single "
        "spaces.",
        stdio([("the quick brown fox\n", "fox brown quick the\n"), ("hello\n", "hello\n"),
               ("a  b   c\n", "c b a\n")]),
        "split() with no argument collapses repeated spaces, so splitting, reversing "
        "the list and joining with one space is enough.",
        "Split into words, reverse the list, and join.",
        "print(\" \".join(input().split()[::-1]))\n",
        wrong="print(input()[::-1])\n",
        samples=("wrong", "ok")),
    CodeProblem(
        "c-011",
        "Read a positive integer n and print the sum 1 + 2 + ... + n.",
        stdio([("4\n", "10\n"), ("1\n", "1\n"), ("100\n", "5050\n")]),
        "Summing a range works; the range has to stop after n, so its end is n + 1.",
        "Sum the integers from 1 through n.",
        "n = int(input())\n"
        "print(sum(range(1, n + 1)))\n",
        wrong="n = int(input())\n"
              "print(sum(range(1, n)))\n",
        samples=("ok", "wrong")),
    CodeProblem(
        "c-012",
        "Read an integer n and print how many prime numbers are less than or equal to n.",
        stdio([("10\n", "4\n"), ("13\n", "6\n"), ("1\n", "0\n"), ("2\n", "1\n")]),
        "A sieve of Eratosthenes up to n is simple. Handle n < 2 separately, since "
        "there are no primes there.",
        "Use a sieve of Eratosthenes and count the survivors.",
        "n = int(input())\n"
        "if n < 2:\n"
        "    print(0)\n"
        "else:\n"
        "    is_prime = [True] * (n + 1)\n"
        "    is_prime[0] = is_prime[1] = False\n"
        "    for i in range(2, int(n ** 0.5) + 1):\n"
        "        if is_prime[i]:\n"
        "            for j in range(i * i, n + 1, i):\n"
        "                is_prime[j] = False\n"
        "    print(sum(is_prime))\n",
        samples=("ok", "truncated")),
    CodeProblem(
        "c-013",
        "Read a word and print, for each distinct character in order of first "
        "appearance, the character and its count as `char:count`, separated by spaces.",
        stdio([("banana\n", "b:1 a:3 n:2\n"), ("aab\n", "a:2 b:1\n"), ("z\n", "z:1\n")]),
        "A dict keeps insertion order, so counting into a plain dict preserves the "
        "order of first appearance.",
        "Count into an insertion-ordered dict and print the pairs.",
        "word = input().strip()\n"
        "counts = {}\n"
        "for ch in word:\n"
        "    counts[ch] = counts.get(ch, 0) + 1\n"
        "print(\" \".join(f\"{ch}:{c}\" for ch, c in counts.items()))\n"),
    CodeProblem(
        "c-014",
        "The first line holds n, the second n integers. Print the integers sorted in "
        "ascending order, separated by spaces.",
        stdio([("4\n10 9 2 33\n", "2 9 10 33\n"), ("3\n-1 -10 5\n", "-10 -1 5\n")]),
        "The values must be compared as integers, not strings, so convert before "
        "sorting.",
        "Convert to integers, sort, and print.",
        "n = int(input())\n"
        "nums = sorted(map(int, input().split()))\n"
        "print(\" \".join(map(str, nums)))\n",
        wrong="n = int(input())\n"
              "nums = sorted(input().split())\n"
              "print(\" \".join(nums))\n",
        samples=("ok", "wrong")),
    CodeProblem(
        "c-015",
        "Implement `add(a, b)` that returns the sum of two numbers.",
        call("add", [([1, 2], 3), ([-4, 4], 0), ([10, 25], 35)]),
        "This is direct: return a + b.",
        "Return the sum.",
        "def add(a, b):\n"
        "    return a + b\n",
        samples=("ok", "ok")),
    CodeProblem(
        "c-016",
        "Implement `gcd(a, b)` that returns the greatest common divisor of two "
        "non-negative integers, with `gcd(0, 0) == 0`.",
        call("gcd", [([12, 18], 6), ([17, 5], 1), ([0, 9], 9), ([0, 0], 0)]),
        "The Euclidean algorithm: replace (a, b) by (b, a % b) until b is 0; then a is "
        "the answer. This also gives 0 for gcd(0, 0).",
        "Run the Euclidean algorithm.",
        "def gcd(a, b):\n"
        "    while b:\n"
        "        a, b = b, a % b\n"
        "    return a\n"),
    CodeProblem(
        "c-017",
        "Implement `fib(n)` returning the n-th Fibonacci number, where `fib(0) == 0` and "
        "`fib(1) == 1`.",
        call("fib", [([0], 0), ([1], 1), ([2], 1), ([10], 55), ([20], 6765)]),
        "Iterate n times, shifting the pair (a, b) to (b, a + b); a ends as fib(n).",
        "Iterate with two running values.",
        "def fib(n):\n"
        "    a, b = 0, 1\n"
        "    for _ in range(n):\n"
        "        a, b = b, a + b\n"
        "    return a\n",
        wrong="def fib(n):\n"
              "    a, b = 0, 1\n"
              "    for _ in range(n - 1):\n"
              "        a, b = b, a + b\n"
              "    return a\n",
        samples=("wrong", "ok")),
    CodeProblem(
        "c-018",
        "Implement `binary_search(arr, target)` that returns the index of `target` in "
        "the sorted list `arr`, or -1 if it is absent.",
        call("binary_search", [([[1, 3, 5, 7, 9], 7], 3), ([[1, 3, 5], 4], -1),
                               ([[5], 5], 0), ([[], 1], -1)]),
        "Keep an inclusive window [lo, hi] and loop while lo <= hi, moving the bound "
        "past mid each time.",
        "Standard binary search on an inclusive window.",
        "def binary_search(arr, target):\n"
        "    lo, hi = 0, len(arr) - 1\n"
        "    while lo <= hi:\n"
        "        mid = (lo + hi) // 2\n"
        "        if arr[mid] == target:\n"
        "            return mid\n"
        "        if arr[mid] < target:\n"
        "            lo = mid + 1\n"
        "        else:\n"
        "            hi = mid - 1\n"
        "    return -1\n"),
    CodeProblem(
        "c-019",
        "Implement `rotate_right(lst, k)` that returns a new list with the elements of "
        "`lst` rotated k positions to the right.",
        call("rotate_right", [([[1, 2, 3, 4, 5], 2], [4, 5, 1, 2, 3]),
                              ([[1, 2, 3], 3], [1, 2, 3]), ([[], 4], []),
                              ([[1, 2], 5], [2, 1])]),
        "Reduce k modulo the length first (guarding the empty list), then the last k "
        "elements move to the front.",
        "Slice the list at len - k after reducing k.",
        "def rotate_right(lst, k):\n"
        "    if not lst:\n"
        "        return []\n"
        "    k %= len(lst)\n"
        "    return lst[len(lst) - k:] + lst[:len(lst) - k]\n"),
    CodeProblem(
        "c-020",
        "Implement `merge_intervals(intervals)` that merges overlapping or touching "
        "closed intervals given as `[start, end]` pairs and returns them sorted by start.",
        call("merge_intervals", [([[[1, 3], [2, 6], [8, 10]]], [[1, 6], [8, 10]]),
                                 ([[[1, 2], [2, 3]]], [[1, 3]]),
                                 ([[[5, 6], [1, 2]]], [[1, 2], [5, 6]]), ([[]], [])]),
        "Sort by start. Walk through, extending the last merged interval when the next "
        "start is at most its end (touching counts), otherwise starting a new one.",
        "Sort, then merge greedily.",
        "def merge_intervals(intervals):\n"
        "    merged = []\n"
        "    for start, end in sorted(intervals):\n"
        "        if merged and start <= merged[-1][1]:\n"
        "            merged[-1][1] = max(merged[-1][1], end)\n"
        "        else:\n"
        "            merged.append([start, end])\n"
        "    return merged\n",
        wrong="def merge_intervals(intervals):\n"
              "    merged = []\n"
              "    for start, end in sorted(intervals):\n"
              "        if merged and start < merged[-1][1]:\n"
              "            merged[-1][1] = max(merged[-1][1], end)\n"
              "        else:\n"
              "            merged.append([start, end])\n"
              "    return merged\n",
        samples=("ok", "wrong")),
]

CODE_OPENERS = (
    "Let me think about the approach.",
    "Okay, what does the problem need?",
    "I'll consider the edge cases first.",
    "Let me plan this before writing code.",
)


def render_code(p: CodeProblem, mode: str, rng: random.Random) -> tuple[str, str]:
    code = p.wrong if mode in ("wrong", "hang") else p.code
    think = f"{rng.choice(CODE_OPENERS)} {p.approach}"
    generation = (f"<think>\n{think}\n</think>\n\n{p.explain}\n\n"
                  f"```python\n{code}```\n")
    if mode == "truncated":
        start = generation.index("```python\n") + len("```python\n")
        body = generation[start:]
        cut = start + body.index("\n", len(body) // 2) - 3
        return generation[:cut], "length"
    return generation, "stop"


def build_code(rng: random.Random) -> tuple[list[dict], list[tuple[str, int, str]]]:
    rows, faults = [], []
    for p in CODE_PROBLEMS:
        for s, mode in enumerate(p.samples):
            generation, finish = render_code(p, mode, rng)
            rows.append({"uid": p.uid, "question": p.question,
                         "tests": json.dumps(p.tests, ensure_ascii=False),
                         "sample": s, "generation": generation,
                         "finish_reason": finish, "teacher": TEACHER})
            if mode != "ok":
                faults.append((p.uid, s, mode))
    return rows, faults


# ---------------------------------------------------------------------------
# General chat conversations
# ---------------------------------------------------------------------------

# (topic, user message, assistant reply, optional follow-up (user, assistant))
CHATS = [
    ("writing", "Can you make this sentence shorter? \"Due to the fact that the meeting "
     "ran long, we were not able to get to the last item on the agenda.\"",
     "Here is a tighter version: \"Because the meeting ran long, we didn't reach the last "
     "agenda item.\" Replacing \"due to the fact that\" with \"because\" and \"were not able "
     "to get to\" with \"didn't reach\" keeps the meaning with about half the words.", None),
    ("writing", "What's the difference between \"affect\" and \"effect\"?",
     "In most sentences, \"affect\" is a verb meaning to influence (\"The rain affected our "
     "plans\"), and \"effect\" is a noun meaning a result (\"The rain had a big effect\"). A "
     "handy memory aid: Affect is an Action, Effect is an End result. There are rarer uses, "
     "such as \"to effect change\" (to bring it about), but the rule above covers everyday "
     "writing.",
     ("Can you give me one more example of each?",
      "Sure. Affect: \"Lack of sleep can affect your concentration.\" Effect: \"The new "
      "schedule had a positive effect on morale.\"")),
    ("writing", "Give me three title ideas for a blog post about growing vegetables on a "
     "small balcony.",
     "1. \"Big Harvests, Small Spaces: A Balcony Vegetable Guide\"\n2. \"Five Square Meters "
     "of Salad: Growing Food on Your Balcony\"\n3. \"From Railing to Plate: Easy Vegetables "
     "for Apartment Gardeners\"\nIf your post focuses on one crop, such as tomatoes or "
     "herbs, putting it in the title can help readers find it.", None),
    ("writing", "Please fix the grammar: \"Me and him goes to the market every saturday, "
     "and we buys fresh bread.\"",
     "Corrected: \"He and I go to the market every Saturday, and we buy fresh bread.\" The "
     "changes: \"He and I\" is the subject form, the verbs \"go\" and \"buy\" agree with a "
     "plural subject, and days of the week are capitalized.", None),
    ("writing", "How should I open a cover letter for a junior designer role?",
     "Open with a sentence that names the role and gives one concrete reason you fit it, "
     "for example: \"I'm applying for the Junior Designer position because I have spent "
     "the last year designing packaging for a local bakery, and I'd love to bring that "
     "hands-on experience to your studio.\" Avoid starting with \"My name is\"; your name "
     "is already on the page. Keep the first paragraph to two or three sentences.", None),
    ("writing", "Make this sound more formal: \"Hey, just checking if you got my report. "
     "Let me know what you think!\"",
     "A more formal version: \"I wanted to confirm that you received my report. I would "
     "appreciate any feedback you may have.\" The greeting, the casual \"just checking\", "
     "and the exclamation mark are the main things that made the original sound informal.",
     ("Now make it a bit warmer but still professional.",
      "Try: \"I hope your week is going well. I wanted to make sure my report reached you, "
      "and I'd be glad to hear your thoughts whenever you have a moment.\"")),
    ("writing", "Suggest an opening line for a short story about an old lighthouse keeper.",
     "\"For forty years Elias had kept the light burning, and in all that time the sea had "
     "never once said thank you.\" It introduces the character, the setting and a hint of "
     "his mood in one sentence, which gives the reader a reason to keep going.", None),
    ("writing", "Any tips for writing clear step-by-step instructions?",
     "A few habits help a lot: start each step with a verb (\"Open\", \"Press\", \"Wait\"); "
     "put one action in each step; number the steps; say what the reader should see when a "
     "step works; and mention warnings before the step they apply to, not after. Finally, "
     "ask someone unfamiliar with the task to follow your draft and watch where they "
     "hesitate.", None),
    ("cooking", "How do I keep rice from getting sticky?",
     "Rinse the rice in cold water until the water runs mostly clear, which washes off "
     "surface starch. Use the right amount of water (about 1.5 cups per cup of long-grain "
     "white rice), keep the lid on while it simmers, and let it rest off the heat for 10 "
     "minutes before fluffing with a fork. Stirring during cooking releases more starch, "
     "so leave it alone.", None),
    ("cooking", "What can I use instead of buttermilk in pancakes?",
     "Stir one tablespoon of lemon juice or white vinegar into a cup of regular milk and "
     "let it stand for five minutes; it will thicken slightly and work the same way. Plain "
     "yogurt thinned with a little milk is another good option.",
     ("I only have oat milk. Will that work?",
      "Yes. Oat milk with lemon juice won't curdle as much as dairy, but the acidity still "
      "reacts with the baking soda, so the pancakes will rise and taste nearly the same.")),
    ("cooking", "How long should I boil eggs for a jammy yolk?",
     "Lower the eggs into water that is already boiling and cook them for six and a half "
     "to seven minutes, then move them straight into ice water for a few minutes. That "
     "gives a set white and a soft, jammy yolk. Very large or fridge-cold eggs may need "
     "an extra 30 seconds.", None),
    ("cooking", "My soup is too salty. Can I fix it?",
     "You have a few options. The most reliable is to add more unsalted liquid, such as "
     "water or low-sodium stock, along with a bit more of the other ingredients so it "
     "doesn't taste thin. A squeeze of lemon or a splash of vinegar can also make salt less "
     "noticeable. Adding a potato is a popular trick, but it mostly works by soaking up "
     "liquid, so dilution does more.", None),
    ("cooking", "What's a quick pasta dinner I can make with pantry staples?",
     "Try spaghetti aglio e olio: while the pasta cooks, gently warm sliced garlic in "
     "plenty of olive oil with a pinch of chili flakes until the garlic is just golden. "
     "Toss the drained pasta in the oil with a splash of the cooking water, then finish "
     "with salt, black pepper and parsley or lemon zest if you have them. It takes about "
     "15 minutes.", None),
    ("cooking", "How do I know when bread is fully baked?",
     "Tap the bottom of the loaf: it should sound hollow. For a more reliable check, use "
     "an instant-read thermometer; most lean breads are done at about 93 to 96 degrees "
     "Celsius in the center, and enriched breads with butter or milk at a little lower. "
     "A deep golden crust is a good sign too.", None),
    ("cooking", "How should I store fresh herbs so they last longer?",
     "Treat soft herbs such as parsley, cilantro and basil like flowers: trim the stems and "
     "stand them in a glass of water, loosely covered with a bag (keep basil on the counter, "
     "the others in the fridge). Wrap hardy herbs like rosemary and thyme in a slightly damp "
     "paper towel and keep them in a container in the fridge.", None),
    ("cooking", "How do I stop guacamole from turning brown?",
     "Browning happens when the avocado meets air. Mix in plenty of lime juice, then press "
     "plastic wrap directly onto the surface of the guacamole so no air is trapped, and "
     "refrigerate it. If the top still darkens a little, just scrape off that thin layer.",
     None),
    ("travel", "How do I pack a carry-on for a week-long trip?",
     "Pick a color scheme so everything mixes and matches, then plan about four tops, two "
     "bottoms, and one layer you can wear on the plane. Roll clothes to save space, put "
     "liquids in a single clear bag, and wear your bulkiest shoes while traveling. Plan to "
     "do one quick sink wash mid-week instead of packing seven of everything.", None),
    ("travel", "Any advice for dealing with jet lag?",
     "Start shifting your sleep an hour or so toward the destination's time zone a few "
     "days before you leave. On arrival, get outdoor daylight in the morning, stay awake "
     "until a normal local bedtime, and keep naps under 30 minutes. Drink water on the "
     "flight and go easy on caffeine late in the day.", None),
    ("travel", "What can I do during a rainy day in a new city?",
     "Rain is a good excuse for the indoor highlights: museums, covered markets, a long "
     "lunch somewhere local, a cooking class, or a concert or film. Public libraries and "
     "historic train stations are often beautiful and free. If the rain is light, a walking "
     "tour with an umbrella can be pleasantly uncrowded.",
     ("What if I'm on a tight budget?",
      "Look for museums with free-entry days, browse covered markets without buying much, "
      "visit churches or libraries, and check the city's event listings for free talks or "
      "lunchtime concerts.")),
    ("travel", "How can I save money on long train journeys?",
     "Book early, since many operators release cheaper fares a few weeks or months ahead. "
     "Check rail passes if you'll take several trips, travel off-peak, and look at whether "
     "a railcard or discount card pays for itself. Bringing your own food and a refillable "
     "water bottle also saves more than you'd expect.", None),
    ("travel", "I have an eight-hour layover. Should I leave the airport?",
     "Often yes, if you check a few things first: whether you need a visa to enter the "
     "country, how long the trip into the city takes each way, and how early you must be "
     "back for security. A good rule is to leave only if you can have at least three hours "
     "in the city and return two to three hours before departure. Store carry-on bags in "
     "left-luggage lockers if they're heavy.", None),
    ("travel", "Tips for flying with a toddler?",
     "Book a seat at a time that matches their nap if you can, and board when you're ready "
     "rather than as early as possible so they spend less time sitting still. Pack small "
     "new toys or stickers to hand out one at a time, plenty of snacks, and a change of "
     "clothes for both of you. Sucking or drinking during takeoff and landing can help with "
     "ear pressure.", None),
    ("travel", "How do I keep my valuables safe while traveling?",
     "Carry only what you need for the day, split cards and cash between two places, and "
     "keep your phone and wallet in a front pocket or a zipped bag worn in front in crowds. "
     "Use the hotel safe for your passport, and keep a photo of it and your cards' "
     "emergency numbers somewhere separate, such as an email to yourself.", None),
    ("travel", "Is it worth learning a few phrases before visiting another country?",
     "Definitely. Even five or six phrases (hello, please, thank you, excuse me, how much, "
     "and do you speak English) make daily interactions friendlier, and people usually "
     "appreciate the effort. A phrasebook app with offline audio helps with pronunciation.",
     None),
    ("concept", "Can you explain compound interest simply?",
     "Compound interest means you earn interest on your interest. If you put 100 in an "
     "account paying 5% a year, after one year you have 105. In the second year you earn "
     "5% of 105, not of 100, so you end with 110.25. Over many years this snowball effect "
     "makes the balance grow faster and faster, which is why starting early matters.",
     ("And how is that different from simple interest?",
      "With simple interest you earn interest only on the original amount, so 100 at 5% "
      "grows by exactly 5 every year: 105, 110, 115, and so on.")),
    ("concept", "What is photosynthesis, in plain words?",
     "Photosynthesis is how plants make their own food. Using energy from sunlight, they "
     "combine carbon dioxide from the air with water from the soil to make sugar, which "
     "they use to grow, and they release oxygen as a by-product. It happens mainly in the "
     "leaves, inside tiny structures called chloroplasts that contain the green pigment "
     "chlorophyll.", None),
    ("concept", "Why is the sky blue?",
     "Sunlight contains all colors. When it passes through the atmosphere, it bumps into "
     "gas molecules, and shorter (bluer) wavelengths get scattered in all directions much "
     "more than longer (redder) ones. So when you look at any part of the sky away from the "
     "sun, you mostly see that scattered blue light. At sunset the light travels through "
     "more air, much of the blue is scattered away, and reds and oranges remain.", None),
    ("concept", "What is an API?",
     "An API (application programming interface) is a defined way for one piece of "
     "software to ask another for something. Think of a restaurant menu: you don't need to "
     "know how the kitchen works, you just order from the menu and get a dish back. A "
     "weather app, for example, sends a request to a weather service's API and receives "
     "the forecast as data.", None),
    ("concept", "What causes inflation?",
     "Inflation is a general rise in prices over time. It can happen when demand for goods "
     "and services grows faster than the economy can produce them, when costs such as "
     "energy or wages rise and businesses pass them on, or when people expect prices to "
     "rise and act accordingly. Central banks usually respond by adjusting interest rates.",
     None),
    ("concept", "How does a vaccine teach the immune system?",
     "A vaccine shows your immune system a harmless version or piece of a germ, such as an "
     "inactivated virus or a single protein. The immune system reacts as if it were a real "
     "infection, making antibodies and memory cells. If you later meet the real germ, those "
     "memory cells recognize it and respond much faster, often before you get seriously ill.",
     None),
    ("concept", "What is a hash function?",
     "A hash function takes input of any size and turns it into a fixed-size value, often "
     "written as a string of letters and digits. The same input always gives the same "
     "output, and a good hash function makes it very unlikely that two different inputs "
     "give the same output. Hashes are used to look things up quickly in tables, to check "
     "that files weren't changed, and, with special slow designs, to store passwords.", None),
    ("concept", "What's the difference between weather and climate?",
     "Weather is what the atmosphere is doing right now or over the next few days: today's "
     "rain, tomorrow's temperature. Climate is the long-term pattern of weather in a place, "
     "usually averaged over 30 years or more. A cold week is weather; a region getting "
     "warmer decade after decade is a change in climate.", None),
]

EMAIL_SCENARIOS = [
    ("ask my manager {boss} for a day off on {day}",
     "Subject: Day off request for {day}\n\nHi {boss},\n\nI'd like to request a day off on "
     "{day} for a personal appointment. My current tasks are on track, and I'll make sure "
     "anything urgent is handled or handed over before then.\n\nPlease let me know if that "
     "works.\n\nThanks,\n{me}"),
    ("follow up with {boss} after my job interview on {day}",
     "Subject: Thank you for the interview\n\nDear {boss},\n\nThank you for taking the time "
     "to speak with me on {day}. I enjoyed learning more about the team and the role, and our "
     "conversation made me even more excited about the opportunity.\n\nPlease let me know if "
     "I can provide anything else.\n\nBest regards,\n{me}"),
    ("move my meeting with {boss} from {day} to later in the week",
     "Subject: Rescheduling our {day} meeting\n\nHi {boss},\n\nSomething has come up, and I "
     "need to move our meeting on {day}. Could we find another slot later in the week? "
     "I'm happy to fit around your calendar, and I'm sorry for the short notice.\n\nBest,\n{me}"),
    ("thank my colleague {boss} for helping with the launch on {day}",
     "Subject: Thank you!\n\nHi {boss},\n\nI wanted to say thank you for all your help with "
     "the launch on {day}. Your quick fixes and calm attitude made a stressful day much "
     "easier, and the whole team noticed.\n\nThanks again,\n{me}"),
    ("ask {boss} in accounts to correct an invoice dated {day}",
     "Subject: Correction needed on invoice dated {day}\n\nHello {boss},\n\nThe invoice dated "
     "{day} lists 12 hours of consulting, but our agreement covered 10 hours. Could you send "
     "a corrected invoice? I'm happy to pay promptly once it arrives.\n\nKind regards,\n{me}"),
    ("politely decline {boss}'s invitation to a dinner on {day}",
     "Subject: Re: Dinner on {day}\n\nHi {boss},\n\nThank you so much for the invitation. "
     "Unfortunately I already have a commitment on {day}, so I won't be able to join. I hope "
     "you all have a wonderful evening, and I'd love to catch up another time.\n\nWarmly,\n{me}"),
    ("introduce my colleague {boss} to our new designer before the kickoff on {day}",
     "Subject: Introduction before {day}'s kickoff\n\nHi {boss},\n\nI'd like to introduce "
     "you to our new designer, who joins the project this week. Since you both work on the "
     "onboarding screens, it would be great to connect before the kickoff on {day}. I've "
     "copied them here so you can find a time.\n\nBest,\n{me}"),
    ("tell the team that the report deadline moved to {day}; my lead is {boss}",
     "Subject: Report deadline moved to {day}\n\nHi all,\n\nQuick update: the report "
     "deadline has moved to {day}. {boss} will share the updated checklist tomorrow. If the "
     "new date causes problems for your section, please let me know this week.\n\nThanks,\n{me}"),
]
NAMES = ("Priya", "Tom", "Ana", "Kenji", "Fatima", "Lucas", "Grace", "Omar")
SENDERS = ("Sam", "Jordan", "Alex", "Robin")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "March 14", "June 3")
EMAIL_ASKS = ("Can you draft an email to {task}?", "Please write a short email to {task}.",
              "Help me write an email to {task}.")

SYSTEM_PROMPTS = {
    "writing": "You are a helpful writing assistant. Keep suggestions clear and practical.",
    "cooking": "You are a friendly cooking assistant. Keep answers short.",
    "travel": "You are a travel assistant who gives practical, safety-conscious advice.",
    "concept": "You explain ideas simply, for a curious non-expert.",
    "email": "You help people write polite, professional emails.",
}
USER_PREFIXES = ("", "", "", "Quick question: ", "Hi! ", "Hello, ")


def build_general(rng: random.Random) -> list[dict]:
    convs = []
    for topic, user, reply, follow in CHATS:
        convs.append((topic, user, reply, follow))
    for task, body in EMAIL_SCENARIOS:
        slots = {"boss": rng.choice(NAMES), "day": rng.choice(DAYS), "me": rng.choice(SENDERS)}
        ask = rng.choice(EMAIL_ASKS).format(task=task.format(**slots))
        reply = "Here's a draft you can adapt:\n\n" + body.format(**slots)
        convs.append(("email", ask, reply, None))
    order = list(range(len(convs)))
    rng.shuffle(order)
    with_system = set(rng.sample(order, 7))
    rows = []
    for n, idx in enumerate(order):
        topic, user, reply, follow = convs[idx]
        prefix = rng.choice(USER_PREFIXES)
        if prefix and user[0].isupper():
            user = prefix + user[0].lower() + user[1:] if prefix.endswith(": ") else prefix + user
        messages = []
        if idx in with_system:
            messages.append({"role": "system", "content": SYSTEM_PROMPTS[topic]})
        messages += [{"role": "user", "content": user},
                     {"role": "assistant", "content": reply}]
        if follow:
            messages += [{"role": "user", "content": follow[0]},
                         {"role": "assistant", "content": follow[1]}]
        rows.append({"uid": f"g-{n + 1:03d}", "messages": messages})
    return rows


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

def write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_plants_md(path: Path, math_faults, code_faults) -> None:
    lines = ["# Planted faults in the sample corpus", "",
             "Generated by `tools/make_sample.py`; do not edit by hand.", "",
             "## Benchmark contamination (math.jsonl vs mini_benchmark.jsonl)", "",
             "| training uid | benchmark id | kind |", "| --- | --- | --- |"]
    lines += [f"| {uid} | {bid} | {kind} |" for uid, (bid, kind) in LEAKS.items()]
    lines += ["", "## Problem-level plants", "", "| uid | plant |", "| --- | --- |"]
    lines += [f"| {uid} | {desc} |" for uid, desc in PLANTS.items() if uid not in LEAKS]
    lines += ["", "## Trace-level faults", "",
              "Modes: `wrong` (boxed answer wrong after an arithmetic slip), `truncated` "
              "(finish_reason length, cut inside `<think>`), `alt` (correct answer in an "
              "equivalent but different form), `final_sentence` (no `\\boxed{}`, ends with "
              "\"The final answer is N.\"), `no_answer` (no final answer stated); code: "
              "`wrong`, `hang` (never terminates), `truncated` (cut inside the code block).",
              "", "| file | uid | sample | fault |", "| --- | --- | --- | --- |"]
    lines += [f"| math.jsonl | {u} | {s} | {m} |" for u, s, m in math_faults]
    lines += [f"| code.jsonl | {u} | {s} | {m} |" for u, s, m in code_faults]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")


def check_plants(math_rows: list[dict]) -> None:
    """Fail loudly if the generated rows drifted from the PLANTS table."""
    by_uid = {r["uid"]: r for r in math_rows}
    bench = bench_by_id()
    for uid in PLANTS:
        if uid.startswith("m-"):
            assert uid in by_uid, uid
    for uid, src in list(NEAR_DUPS.items()) + list(EXACT_DUPS.items()):
        assert by_uid[uid]["gold"] == by_uid[src]["gold"]
        assert by_uid[uid]["question"] != by_uid[src]["question"]
    for uid, src in EXACT_DUPS.items():
        norm = lambda t: " ".join(t.lower().split())  # noqa: E731
        assert norm(by_uid[uid]["question"]) == norm(by_uid[src]["question"])
    assert by_uid["m-leak-01"]["question"] == bench["mb-02"][0]
    assert by_uid["m-leak-04"]["question"] == bench["mb-08"][0]
    assert bench["mb-04"][0] in by_uid["m-leak-03"]["question"]
    assert by_uid[BAD_GOLD_UID]["gold"] == BAD_GOLD


def main(out_dir: Path = OUT_DIR) -> None:
    bench_rows = [{"id": b[0], "problem": b[1], "answer": b[2]} for b in BENCHMARK]
    math_rows, math_faults = build_math(random.Random(SEED))
    code_rows, code_faults = build_code(random.Random(SEED))
    general_rows = build_general(random.Random(SEED))
    check_plants(math_rows)

    out_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl(out_dir / "math.jsonl", math_rows)
    write_jsonl(out_dir / "code.jsonl", code_rows)
    write_jsonl(out_dir / "general.jsonl", general_rows)
    write_jsonl(out_dir / "mini_benchmark.jsonl", bench_rows)
    write_plants_md(out_dir / "PLANTS.md", math_faults, code_faults)

    print(f"math.jsonl: {len(math_rows)} rows, {len({r['uid'] for r in math_rows})} problems")
    print(f"code.jsonl: {len(code_rows)} rows, {len(CODE_PROBLEMS)} problems")
    print(f"general.jsonl: {len(general_rows)} conversations")
    print(f"mini_benchmark.jsonl: {len(bench_rows)} items")
    for label, faults in (("math", math_faults), ("code", code_faults)):
        counts: dict[str, int] = {}
        for _, _, mode in faults:
            counts[mode] = counts.get(mode, 0) + 1
        print(f"{label} trace faults: " + ", ".join(f"{k}={v}" for k, v in counts.items()))


if __name__ == "__main__":
    import sys

    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT_DIR)
