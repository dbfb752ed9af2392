#!/usr/bin/env python3
"""Validates spanguard's EVE JSON lines against Suricata's EVE schema (tests/data/eve).

Every line must be one JSON object without duplicate keys that validates (Draft 7) against the
schema, with integers written as JSON integers (the schema's "integer" in Draft 7 also admits 1.0;
Suricata never writes that, and typed EVE readers reject it). The schema forbids fields it does not
name (additionalProperties: false); spanguard's own fields are accepted only where
ALLOWED_EXTRA_FIELDS names them, for the event types it lists. Every other error fails the check,
reported with the file, line number, field path, message and the line itself.

Beyond the schema's types, two fields whose meaning Suricata fixes are checked too (a value outside
it misleads a SIEM as surely as a wrong type): src_port/dest_port appear only on TCP, UDP and SCTP
events (Suricata's EVE header code; ICMP has icmp_type/icmp_code instead), and alert.action is
"allowed" or "blocked" (the EVE format documentation's "Possible values").

Coverage: each --expect must be met by at least one event of the files together:
  TYPE             an event of event_type TYPE
  TYPE:PATH        ... in which the dotted field PATH is present (arrays: any element)
  TYPE:PATH=VALUE  ... and has VALUE there (a string as is, anything else as compact JSON)

Usage: eve_schema_check.py --schema SCHEMA.json [--expect SPEC]... EVE.json [EVE.json]...
Exit status: 0 valid and covered, 1 invalid or not covered, 2 unusable arguments or environment.
"""

import argparse
import json
import sys
from collections import Counter, defaultdict

try:
    import jsonschema
    import jsonschema.validators
except ImportError:
    print(
        "eve_schema_check: the python3 module jsonschema is missing "
        "(Debian: apt-get install python3-jsonschema; tools/setup.sh installs it)",
        file=sys.stderr,
    )
    sys.exit(2)

ALL_TYPES = ("alert", "flow", "http", "tls", "dns", "reset")

# Fields of spanguard's own that Suricata's schema does not name: field path ("[]" for any array
# element) -> the event types that may carry it.
ALLOWED_EXTRA_FIELDS = {
    # Per-run event number; the collector acknowledges and deduplicates by (run_id, seq).
    "seq": ALL_TYPES,
    # Set by spanguard-collector from the sensor's Hello: the run that numbered seq.
    "run_id": ALL_TYPES,
    # What the sensor's reset response sent (mode, packets and outcome per end).
    "reset": ("alert", "reset"),
    # A reset report's pointer to the seq of the alert whose reset it follows up.
    "alert_seq": ("reset",),
    # spanguard's own flow end reason (closed, timeout, reused, evicted, shutdown); EVE's coarser
    # flow.reason is written as well.
    "end_reason": ("flow",),
    # The idle policy that fired for the flow (flow.timeout_overrides[].idle_action).
    "idle_action": ("flow",),
    # A stats event's every counter by spanguard's own name (Suricata's names are in "stats").
    "counters": ("stats",),
}

# Expected failures: known violations by spanguard's output, each to be removed once it is fixed.
# (event_type, field path, validator or meaning check) -> what is wrong. They are reported but do
# not fail the check; one that no longer occurs does fail it, so that the list cannot go stale.
KNOWN_VIOLATIONS_TO_FIX = {}

PORT_PROTOCOLS = ("TCP", "UDP", "SCTP")
ALERT_ACTIONS = ("allowed", "blocked")


def meaning_errors(event):
    """(path parts, check, message) for each Suricata field used with another meaning."""
    out = []
    proto = event.get("proto")
    for port in ("src_port", "dest_port"):
        if port in event and proto not in PORT_PROTOCOLS:
            message = (f"{port} {event[port]!r} on an event of proto {proto}: Suricata writes "
                       "ports for TCP, UDP and SCTP only")
            out.append(([port], "suricata-ports", message))
    alert = event.get("alert")
    if isinstance(alert, dict) and "action" in alert and alert["action"] not in ALERT_ACTIONS:
        message = (f"alert.action {alert['action']!r}: Suricata's values are "
                   f"{' and '.join(ALERT_ACTIONS)}")
        out.append((["alert", "action"], "suricata-alert-action", message))
    return out


def strict_validator_class():
    """Draft 7, with "integer" meaning a JSON integer (not 1.0) and booleans never numbers."""

    def is_integer(_checker, instance):
        return isinstance(instance, int) and not isinstance(instance, bool)

    checker = jsonschema.Draft7Validator.TYPE_CHECKER.redefine("integer", is_integer)
    return jsonschema.validators.extend(jsonschema.Draft7Validator, type_checker=checker)


class DuplicateKey(ValueError):
    pass


def no_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise DuplicateKey(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def exact_path(parts):
    """dns.answers[0].ttl"""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def field_path(parts):
    """dns.answers[].ttl: the path the allow-list and the known violations name."""
    out = ""
    for p in parts:
        out += "[]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def extra_fields(error):
    """The properties an additionalProperties error is about."""
    declared = error.schema.get("properties", {})
    return sorted(k for k in error.instance if k not in declared)


def values_at(event, path):
    """Every value at a dotted path, descending into arrays."""
    found = [event]
    for key in path.split("."):
        nxt = []
        for v in found:
            for item in v if isinstance(v, list) else [v]:
                if isinstance(item, dict) and key in item:
                    nxt.append(item[key])
        found = nxt
    return found


def value_text(value):
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


class Expectation:
    def __init__(self, spec):
        self.spec = spec
        self.event_type, _, rest = spec.partition(":")
        self.path, has_value, self.value = rest.partition("=")
        self.value = self.value if has_value else None
        self.met = 0
        if not self.event_type or (":" in spec and not self.path):
            raise ValueError(f"bad --expect {spec!r}: TYPE, TYPE:PATH or TYPE:PATH=VALUE")

    def observe(self, event):
        if event.get("event_type") != self.event_type:
            return
        if self.path:
            found = values_at(event, self.path)
            if self.value is not None:
                found = [v for v in found if value_text(v) == self.value]
            if not found:
                return
        self.met += 1


class Checker:
    def __init__(self, schema):
        self.validator = strict_validator_class()(schema)
        self.failures = 0
        self.known_seen = Counter()
        self.counts = defaultdict(Counter)  # file -> event_type -> events
        self.reported = Counter()  # (event_type, field path, message) -> errors

    def fail(self, where, event_type, parts, message, line):
        key = (event_type, field_path(parts), message)
        self.failures += 1
        self.reported[key] += 1
        if self.reported[key] <= 3:  # the same error on every flow record says nothing new
            print(f"FAIL {where}: event_type {event_type}, {exact_path(parts)}: {message}")
            print(f"     {line if len(line) <= 4000 else line[:4000] + '...'}")

    def check_error(self, where, event_type, error, line):
        if error.validator == "additionalProperties":
            for name in extra_fields(error):
                parts = list(error.absolute_path) + [name]
                path = field_path(parts)
                allowed = ALLOWED_EXTRA_FIELDS.get(path, ())
                if event_type in allowed:
                    continue
                if (event_type, path, "additionalProperties") in KNOWN_VIOLATIONS_TO_FIX:
                    self.known_seen[(event_type, path, "additionalProperties")] += 1
                    continue
                self.fail(
                    where,
                    event_type,
                    parts,
                    "not a field of Suricata's schema, nor one of ours allowed for this event "
                    "type (ALLOWED_EXTRA_FIELDS)",
                    line,
                )
            return
        key = (event_type, field_path(error.absolute_path), error.validator)
        if key in KNOWN_VIOLATIONS_TO_FIX:
            self.known_seen[key] += 1
            return
        message = error.message
        if error.validator in ("type", "pattern", "enum", "const", "minItems"):
            message += f" (schema: {error.validator} {json.dumps(error.validator_value)})"
        self.fail(where, event_type, list(error.absolute_path), message, line)

    def check_file(self, path, expectations):
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except (OSError, UnicodeDecodeError) as e:
            print(f"FAIL {path}: cannot read: {e}")
            self.failures += 1
            return
        if not any(l.strip() for l in lines):
            print(f"FAIL {path}: no EVE lines")
            self.failures += 1
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                event = json.loads(line, object_pairs_hook=no_duplicates)
            except ValueError as e:
                self.fail(where, "?", [], f"not JSON: {e}", line)
                continue
            if not isinstance(event, dict):
                self.fail(where, "?", [], "not a JSON object", line)
                continue
            event_type = str(event.get("event_type", "?"))
            self.counts[path][event_type] += 1
            errors = self.validator.iter_errors(event)
            for error in sorted(errors, key=lambda e: [str(p) for p in e.path]):
                self.check_error(where, event_type, error, line)
            for parts, check, message in meaning_errors(event):
                key = (event_type, field_path(parts), check)
                if key in KNOWN_VIOLATIONS_TO_FIX:
                    self.known_seen[key] += 1
                else:
                    self.fail(where, event_type, parts, message, line)
            for e in expectations:
                e.observe(event)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schema", required=True)
    parser.add_argument("--expect", action="append", default=[], metavar="SPEC")
    parser.add_argument("eve", nargs="+")
    args = parser.parse_args()
    try:
        with open(args.schema, encoding="utf-8") as f:
            schema = json.load(f)
        jsonschema.Draft7Validator.check_schema(schema)
        expectations = [Expectation(s) for s in args.expect]
    except (OSError, ValueError, jsonschema.SchemaError) as e:
        print(f"eve_schema_check: {e}", file=sys.stderr)
        return 2

    checker = Checker(schema)
    for path in args.eve:
        checker.check_file(path, expectations)

    print("events per type:")
    total = Counter()
    for path, counts in checker.counts.items():
        total.update(counts)
        listing = ", ".join(f"{t} {n}" for t, n in sorted(counts.items()))
        print(f"  {path}: {listing}")
    print("  all: " + ", ".join(f"{t} {n}" for t, n in sorted(total.items())))

    if expectations:
        print("coverage:")
        for e in expectations:
            print(f"  {'ok' if e.met else 'MISSING':7} {e.spec} ({e.met})")
            if not e.met:
                checker.failures += 1

    for key, what in KNOWN_VIOLATIONS_TO_FIX.items():
        n = checker.known_seen[key]
        if n:
            print(f"KNOWN VIOLATION (expected failure) {key}: {what} ({n} events)")
        else:
            print(f"FAIL known violation {key} no longer occurs: remove it from "
                  "KNOWN_VIOLATIONS_TO_FIX")
            checker.failures += 1

    repeated = {k: n for k, n in checker.reported.items() if n > 3}
    for (event_type, path, message), n in repeated.items():
        print(f"  ({n - 3} more of: event_type {event_type}, {path}: {message})")
    print(f"{'FAILED' if checker.failures else 'OK'}: {sum(total.values())} events, "
          f"{checker.failures} problems")
    return 1 if checker.failures else 0


if __name__ == "__main__":
    sys.exit(main())
