"""A journey drawn as a canvas: its YAML as a diagram (entry, waits, branches, sends with
channel and fallback, the exit with its goals), with the warehouse's counts on every node.

`layout()` places the nodes (a branch's arms side by side, joined again below them);
`node_counts()` reads the analytics models for each node; `render_svg()` draws it as
inline SVG, each count in an element with `data-node`, `data-metric` and `data-value`,
as the rest of the report does. A backtest draws the same layout with the counts it
stored (`with_stored_counts`, orchestration/backtest_canvas.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup, escape

from orchestration.journeys.spec import Journey, Step

NODE_WIDTH, NODE_HEIGHT = 250, 84
ROW_HEIGHT, SPREAD, MARGIN = 118, 280, 16
CHAR_WIDTH = 6.2  # of the 11 px counts, to wrap them inside a node
STYLE = ("<style>.canvas text { font: 11px system-ui, sans-serif; fill: #334e68; } "
         ".canvas .node-title { font-size: 12px; font-weight: 600; fill: #102a43; } "
         ".canvas .node-detail, .canvas .edge-label { fill: #627d98; }</style>")
FILL = {"entry": "#e3f0fb", "wait": "#f0f4f8", "wait_until": "#f0f4f8", "branch": "#fff3c4", "send": "#e3f9e5",
        "exit": "#fde8e8"}


@dataclass
class Node:
    id: str
    kind: str  # entry | wait | wait_until | branch | send | exit
    title: str
    detail: str = ""
    row: int = 0
    lane: tuple[str, ...] = ()
    x: float = 0.0
    counts: list[tuple[str, str, int]] = field(default_factory=list)  # (label, metric, value)
    note: str = ""  # e.g. the top suppression reason


@dataclass
class Canvas:
    journey: str
    nodes: list[Node]
    edges: list[tuple[str, str, str]]  # (from, to, label)

    @property
    def width(self) -> float:
        return max(n.x for n in self.nodes) + NODE_WIDTH / 2 + MARGIN

    @property
    def height(self) -> float:
        return (max(n.row for n in self.nodes) + 1) * ROW_HEIGHT + MARGIN


def _entry_text(journey: Journey) -> str:
    entry = journey.entry
    if entry.kind == "segment":
        return f"joins segment {entry.segment}"
    if entry.kind == "inactivity":
        return f"no {entry.activity_event} for {entry.inactive_for.text}"
    times = f" {entry.count} times in {entry.within.text}" if entry.count > 1 and entry.within else ""
    return f"{entry.event.event}{times}"


def _step_node(step: Step) -> Node:
    if step.kind == "wait":
        return Node(step.id, "wait", f"Wait {step.wait.text}")
    if step.kind == "wait_until":
        return Node(step.id, "wait_until", f"Wait for {step.until.event}", f"at most {step.timeout.text}, then {step.on_timeout}")
    if step.kind == "branch":
        return Node(step.id, "branch", f"If {step.condition}")
    send = step.send
    detail = f"else {step.fallback.channel} via {step.fallback.destination}" if step.fallback else (
        f"if {step.condition}" if step.condition else "")
    return Node(step.id, "send", f"{step.id}: {send.channel} via {send.destination}", detail)


def layout(journey: Journey) -> Canvas:
    """Rows top to bottom; a branch's `then` arm to the left of its `else` arm. `tails`
    holds, per open lane, the node its next step hangs from (and the edge's label)."""
    entry = Node("entry", "entry", "Entry", _entry_text(journey))
    nodes, edges = [entry], []
    next_row: dict[tuple[str, ...], int] = {(): 1}
    tails: dict[tuple[str, ...], tuple[str, str]] = {(): ("entry", "")}

    def place(node: Node, lane: tuple[str, ...]) -> None:
        # Steps of an enclosing lane join every arm opened below it.
        inner = [open_lane for open_lane in tails if len(open_lane) > len(lane) and open_lane[:len(lane)] == lane]
        node.lane, node.row = lane, max([next_row.get(lane, 1)] + [next_row[open_lane] for open_lane in inner])
        for source in [lane] * (lane in tails) + inner:
            edges.append((tails[source][0], node.id, tails[source][1]))
        for open_lane in inner:
            del tails[open_lane], next_row[open_lane]
        tails[lane], next_row[lane] = (node.id, ""), node.row + 1
        nodes.append(node)

    for step in journey.steps:
        node = _step_node(step)
        place(node, step.conditions)
        if step.kind == "branch":
            del tails[step.conditions]  # the arms carry on from the branch
            for arm, answer in ((f"branch_{step.id}", "yes"), (f"branch_{step.id}_else", "no")):
                lane = step.conditions + (arm,)
                tails[lane], next_row[lane] = (step.id, answer), node.row + 1
    ends = [f"goal: {', '.join(g.event for g in journey.goals)}"] * bool(journey.goals) + \
        [f"exits on: {', '.join(e.event for e in journey.exits)}"] * bool(journey.exits)
    place(Node("exit", "exit", "Exit", "; ".join(ends) or "after the last step"), ())
    _position(nodes)
    return Canvas(journey.name, nodes, edges)


def _position(nodes: list[Node]) -> None:
    """x of a lane: its parent's, moved left (then) or right (else) by half as much per level."""
    for node in nodes:
        x = 0.0
        for depth, arm in enumerate(node.lane, start=1):
            x += (1 if arm.endswith("_else") else -1) * SPREAD / 2 ** depth
        node.x = x
    low = min(n.x for n in nodes)
    for node in nodes:
        node.x += MARGIN + NODE_WIDTH / 2 - low


def node_counts(con, canvas: Canvas) -> None:
    """Counts from journey_funnel, journey_step_funnel and journey_suppression_reasons, and
    for waits the active treated instances held there now (journey_instances and the
    actions they reached)."""
    journey = canvas.journey
    funnel = con.execute("select entered_treatment, entered_control, converted, exited, active "
                         "from analytics.journey_funnel where journey = ?", [journey]).fetchone() or (0, 0, 0, 0, 0)
    steps = {(step, arm): (actions, sent, suppressed, due + deferred) for step, arm, actions, sent, suppressed, due, deferred
             in con.execute("select step_id, arm, actions, sent, suppressed, due, deferred "
                            "from analytics.journey_step_funnel where journey = ?", [journey]).fetchall()}
    top_reasons = {}
    for step, reason, suppressed in con.execute(
            "select step_id, reason_code, suppressed from analytics.journey_suppression_reasons "
            "where journey = ? and reason_code <> 'holdout' order by suppressed desc, reason_code", [journey]).fetchall():
        top_reasons.setdefault(step, (reason, suppressed))
    reached: dict[str, set[str]] = {}
    for instance, step in con.execute(
            "select i.instance_id, a.step_id from journeys.journey_instances as i "
            "left join analytics.int_analytics__journey_actions as a on a.instance_id = i.instance_id "
            "where i.journey = ? and i.arm = 'treatment' and i.state = 'active'", [journey]).fetchall():
        reached.setdefault(instance, set()).update([step] if step else [])

    by_id = {node.id: node for node in canvas.nodes}
    for node in canvas.nodes:
        if node.kind == "entry":
            node.counts = [("entered", "entered_treatment", funnel[0]), ("holdout", "entered_control", funnel[1])]
        elif node.kind == "exit":
            node.counts = [("converted", "converted", funnel[2]), ("exited", "exited", funnel[3]), ("active", "active", funnel[4])]
        elif node.kind == "send":
            actions, sent, suppressed, waiting = steps.get((node.id, "treatment"), (0, 0, 0, 0))
            node.counts = [("reached", "reached", actions), ("sent", "sent", sent), ("held back", "suppressed", suppressed),
                           ("due", "due", waiting), ("holdout", "holdout", steps.get((node.id, "control"), (0,))[0])]
            if node.id in top_reasons:
                reason, times = top_reasons[node.id]
                node.note = f"top reason: {reason} ({times:,})"
        elif node.kind in ("wait", "wait_until"):
            before, after = _sends_around(canvas, by_id, node.id)
            held = sum(1 for steps_reached in reached.values()
                       if (before is None or before in steps_reached) and not steps_reached & after)
            node.counts = [("waiting here", "waiting", held)]


def _sends_around(canvas: Canvas, by_id: dict[str, Node], node_id: str) -> tuple[str | None, set[str]]:
    """The nearest send before a wait (on its only path in) and every send after it."""
    incoming = {target: source for source, target, _ in canvas.edges}
    before, current = None, node_id
    while current in incoming and before is None:
        current = incoming[current]
        before = current if by_id[current].kind == "send" else None
    outgoing: dict[str, list[str]] = {}
    for source, target, _ in canvas.edges:
        outgoing.setdefault(source, []).append(target)
    after, stack = set(), list(outgoing.get(node_id, []))
    while stack:
        current = stack.pop()
        if by_id[current].kind == "send":
            after.add(current)
        stack.extend(outgoing.get(current, []))
    return before, after


def _text(x: float, y: float, text: str, **attributes: str) -> str:
    extra = "".join(f' {name.replace("_", "-")}="{escape(value)}"' for name, value in attributes.items())
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(text)}</text>'


def render_svg(canvas: Canvas, backtest_id: str | None = None) -> Markup:
    """A backtest's canvas (`backtest_id`) keys its counts by `data-backtest-canvas` and
    `data-backtest` instead of `data-canvas`: one page can hold both canvases of a journey."""
    key = {"data_backtest_canvas": canvas.journey, "data_backtest": backtest_id} if backtest_id else {"data_canvas": canvas.journey}
    marked = f' data-backtest="{escape(backtest_id)}"' if backtest_id else ""
    parts = [f'<svg class="canvas" data-canvas="{escape(canvas.journey)}"{marked} viewBox="0 0 {canvas.width:.0f} {canvas.height:.0f}" '
             f'width="{canvas.width:.0f}" height="{canvas.height:.0f}" role="img" '
             f'aria-label="{escape(canvas.journey)} as a diagram">', STYLE]
    by_id = {node.id: node for node in canvas.nodes}
    for source, target, answer in canvas.edges:
        a, b = by_id[source], by_id[target]
        y1, y2 = a.row * ROW_HEIGHT + MARGIN + NODE_HEIGHT, b.row * ROW_HEIGHT + MARGIN
        middle = (y1 + y2) / 2
        parts.append(f'<path d="M{a.x:.1f},{y1:.1f} C{a.x:.1f},{middle:.1f} {b.x:.1f},{middle:.1f} {b.x:.1f},{y2:.1f}" '
                     f'fill="none" stroke="#9fb3c8" stroke-width="1.5"/>')
        if answer:
            parts.append(_text((a.x + b.x) / 2 + 4, middle, answer, class_="edge-label"))
    for node in canvas.nodes:
        left, top = node.x - NODE_WIDTH / 2, node.row * ROW_HEIGHT + MARGIN
        parts.append(f'<g data-node="{escape(node.id)}" data-kind="{node.kind}">')
        parts.append(f'<rect x="{left:.1f}" y="{top:.1f}" width="{NODE_WIDTH}" height="{NODE_HEIGHT}" rx="8" '
                     f'fill="{FILL[node.kind]}" stroke="#bcccdc"><title>{escape(node.title)}</title></rect>')
        parts.append(_text(left + 8, top + 16, _clip(node.title), class_="node-title"))
        if node.detail:
            parts.append(_text(left + 8, top + 31, _clip(node.detail), class_="node-detail"))
        x, y = left + 8, top + 48
        for label_text, metric, value in node.counts:
            shown = f"{label_text} {value:,}"
            if x + CHAR_WIDTH * len(shown) > left + NODE_WIDTH - 4:
                x, y = left + 8, y + 15
            parts.append(_text(x, y, shown, class_="count", **key, data_node=node.id,
                               data_metric=metric, data_value=str(value)))
            x += CHAR_WIDTH * len(shown) + 10
        if node.note:
            parts.append(_text(left + 8, y + 15, _clip(node.note, 40), class_="node-detail"))
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))


def _clip(text: str, limit: int = 36) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


# What the counts read; a warehouse built before any of them gets no canvases.
NEEDS = ("journey_funnel", "journey_step_funnel", "journey_suppression_reasons")


def build_canvas(con, journey: Journey) -> Canvas:
    canvas = layout(journey)
    node_counts(con, canvas)
    return canvas


def with_stored_counts(canvas: Canvas, rows: list[tuple]) -> Canvas:
    """`canvas` (a fresh layout) with the counts of journey_backtest_canvas rows
    (node_id, count_index, label, metric, value, note): a node new since the backtest has
    none, and the counts of a node the YAML no longer has are not drawn."""
    by_id = {node.id: node for node in canvas.nodes}
    for node_id, _, label_text, metric, value, note in sorted(rows, key=lambda r: (r[0], r[1])):
        if node_id in by_id:
            by_id[node_id].counts.append((label_text, metric, int(value)))
            by_id[node_id].note = note or ""
    return canvas


def journey_canvases(con, journeys: list[Journey]) -> list[tuple[str, Markup]]:
    """(journey, its canvas as SVG), for each journey in the project's YAML."""
    return [(journey.name, render_svg(build_canvas(con, journey))) for journey in journeys]


def canvas_markdown(canvas: Canvas) -> str:
    """The canvas as a markdown table for the Dagster UI (which renders markdown, not SVG):
    one row per node, a branch's arms marked yes / no and indented."""
    answers = {target: answer for _, target, answer in canvas.edges if answer}
    lines = ["| step | what | counts |", "|---|---|---|"]
    for node in canvas.nodes:
        arm = answers.get(node.id, "")
        name = "\u2003" * len(node.lane) + (f"↳ {arm}: " if arm else "") + node.id
        what = " — ".join(part for part in (node.title, node.detail) if part)
        counts = " · ".join(f"{label_text} {value:,}" for label_text, _, value in node.counts)
        if node.note:
            counts += f" ({node.note})"
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in (name, what, counts)) + " |")
    return "\n".join(lines)
