"""Which experiments a tick looks at, so that a steady tick costs the same over ten times the archive.

The ledger keeps, in ``experiments/``, the DAQ root's experiments as last listed and what a tick
learnt of each: the rawData stamp (mtime_ns) at which every scan was shipped or released, or None
(look at it every tick). An experiment whose stamp has been settled for DORMANT_SECONDS is
*dormant*: it lives in a chunk file (``dormant-<k>.json``) and a tick looks at one chunk, in turn,
besides every active experiment (``index.json``). A steady tick thus reads the small index and one
chunk and stats the active experiments and that chunk; a scan that arrives in a dormant experiment
is found within (chunks) ticks. The index is rebuilt from a listing of the root whenever the root
changed (an experiment came, went or was renamed), the ledger's generation moved (retry, forget, a
scan shipped again) or the index is missing, unreadable or not settled. It is a cache: written
without fsync, a crash may leave it empty, and the next tick rebuilds it.
Standard library only, valid on Python 3.9 (see _layout).
"""

from _layout import list_experiments, parse_experiment_name
from _ledger import SETTLE_SECONDS, atomic_write, encode_json, mtime_stamp, read_json

INDEX_DIR = "experiments"
DORMANT_SECONDS = 7 * 86400
DORMANT_CHUNK = 64  # dormant experiments a tick looks at


def _path(ledger, name):
    import os

    return os.path.join(ledger, INDEX_DIR, name)


def _chunk_name(number):
    return f"dormant-{number}.json"


class TickPlan:
    """The experiments this tick looks at (``names``, oldest first), what was known of each (``known``:
    name -> stamp or None), and, once the tick is done, ``save`` for what it learnt."""

    def __init__(self, ledger, root_real, generation, now, problems):
        self.ledger, self.generation, self.now = ledger, generation, now
        self.root = mtime_stamp(root_real)
        settled = self.root is not None and now - self.root / 1e9 > SETTLE_SECONDS
        index, _problem = read_json(_path(ledger, "index.json"))
        usable = (
            settled
            and index is not None
            and index.get("version") == 2
            and index.get("generation") == generation
            and index.get("root") == self.root
            and isinstance(index.get("active"), dict)
        )
        if usable:
            self.full = False
            self.chunks = int(index.get("chunks") or 0)
            self.cursor = int(index.get("cursor") or 0) % self.chunks if self.chunks else 0
            self.chunk = self._read_chunk(self.cursor) if self.chunks else {}
            self.active = dict(index["active"])
            self.problems = list(index.get("problems") or [])
            self.known = dict(self.active, **self.chunk)
            names = list(self.known)
        else:
            self.full = True
            self.problems = []
            experiments = list_experiments(root_real, self.problems)
            names = [experiment["experiment"] for experiment in experiments]
            earlier = self._everything(index) if index and index.get("generation") == generation else {}
            self.known = {name: earlier.get(name) for name in names}
            if not settled:
                self.root = None  # trusted only once settled: the next tick lists the root again
        problems.extend(self.problems)
        parsed = {name: parse_experiment_name(name) for name in names}
        self.names = sorted((name for name in names if parsed[name]), key=lambda name: (parsed[name]["date"], name))
        self.kinds = {name: parsed[name]["kind"] for name in self.names}

    def _read_chunk(self, number):
        chunk, _problem = read_json(_path(self.ledger, _chunk_name(number)))
        return chunk or {}

    def _everything(self, index):
        known = dict(index.get("active") or {})
        for number in range(int(index.get("chunks") or 0)):
            known.update(self._read_chunk(number))
        return known

    def _dormant(self, stamp):
        return stamp is not None and self.now - stamp / 1e9 > DORMANT_SECONDS

    def save(self, learnt):
        """Keep what the tick learnt (name -> stamp at which every scan is shipped, or None); the names
        it did not get to keep what was known of them."""
        import os

        result = dict(self.known, **learnt)
        os.makedirs(_path(self.ledger, ""), exist_ok=True)
        if self.full:
            dormant = sorted(name for name in self.names if self._dormant(result[name]))
            chunks = [dormant[start : start + DORMANT_CHUNK] for start in range(0, len(dormant), DORMANT_CHUNK)]
            for number, names in enumerate(chunks):
                chunk = encode_json({name: result[name] for name in names})
                atomic_write(_path(self.ledger, _chunk_name(number)), chunk, durable=False)
            resting = set(dormant)
            active = {name: result[name] for name in self.names if name not in resting}
            count, cursor = len(chunks), 0
        else:
            chunk = {name: result[name] for name in self.chunk if self._dormant(result[name])}
            active = {}
            for name in self.active:
                if self._dormant(result[name]):
                    chunk[name] = result[name]
                else:
                    active[name] = result[name]
            for name in self.chunk:
                if name not in chunk:
                    active[name] = result[name]
            if chunk != self.chunk:  # without chunks yet, the cursor is 0 and this makes the first
                atomic_write(_path(self.ledger, _chunk_name(self.cursor)), encode_json(chunk), durable=False)
            count = self.chunks or (1 if chunk else 0)
            cursor = (self.cursor + 1) % count if count else 0
        index = {
            "version": 2,
            "generation": self.generation,
            "root": self.root,
            "active": active,
            "chunks": count,
            "cursor": cursor,
            "problems": self.problems,
        }
        atomic_write(_path(self.ledger, "index.json"), encode_json(index), durable=False)
