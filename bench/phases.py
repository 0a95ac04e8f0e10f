"""Time spent per phase, from the "<unix time> <name> <phase>" lines that
`kube_client.py watch-plv` writes (cl_watch_versions in bench/cutover-lib.sh)."""


def phases(path, name, since):
    """Seconds version `name` spent in each phase from `since` (its apply or creation) to
    Serving, and that total."""
    marks = [(since, "Pending")]
    for line in open(path):
        t, n, phase = line.split()
        if n != name or float(t) < since:
            continue
        phase = "Pending" if phase == "-" else phase
        if phase != marks[-1][1]:
            marks.append((float(t), phase))
    served = next(t for t, p in marks if p == "Serving")
    spent = {}
    for (t, p), (t2, _) in zip(marks, marks[1:]):
        if t < served:
            spent[p] = spent.get(p, 0) + t2 - t
    return served - since, spent
