"""The four DORA keys computed by DuckDB from the CSV files that
`cargo run --release -p parky-dora --example dora_gen` writes: the second method of the
side-by-side benchmark in scripts/bench-dora.sh (docs/benchmarks.md).

Same rules as parky-dora (see its crate docs):
- production deployments only; `pending` ones are ignored as outcomes, but their commits
  (like those of failed ones) are shipped by the next successful deployment of the same
  service and environment;
- window [SINCE, UNTIL) in Unix seconds, weeks from Monday 00:00 Asia/Tokyo (UTC+9, no DST);
- a deployment failed when its outcome is `failure` or an incident links to it, counted once;
- lead time: from the commit time (committed_at) to the first successful deployment at or
  after the one that carried the commit; negative ones are "skewed" and left out;
- recovery: to the latest resolution of the linked incidents (all resolved), or with no
  incident to the next successful deployment of the same service and environment;
- median and percentiles: quantile_cont (linear interpolation, mean of the two middle values).

Usage: python3 scripts/dora_duckdb.py DIR SINCE UNTIL
Prints one JSON object with the figures and the load and compute times in seconds.
"""
import json
import sys
import time

import duckdb

directory, since, until = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
weeks = (until - since) / (7 * 86400)
days = (until - since) / 86400
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
t0 = time.perf_counter()
con.execute(f"""
CREATE TABLE d AS SELECT * FROM read_csv('{directory}/deployments.csv', header = true,
  columns = {{'id': 'VARCHAR', 'service': 'VARCHAR', 'environment': 'VARCHAR',
             'commit': 'VARCHAR', 'ts': 'BIGINT', 'outcome': 'VARCHAR'}});
CREATE TABLE c AS SELECT * FROM read_csv('{directory}/changes.csv', header = true,
  columns = {{'commit': 'VARCHAR', 'authored_at': 'BIGINT', 'committed_at': 'BIGINT',
             'deployment': 'VARCHAR'}});
CREATE TABLE i AS SELECT * FROM read_csv('{directory}/incidents.csv', header = true,
  columns = {{'id': 'VARCHAR', 'opened_at': 'BIGINT', 'resolved_at': 'BIGINT',
             'deployment': 'VARCHAR'}});
""")
t1 = time.perf_counter()
figures = con.execute(f"""
WITH prod AS (SELECT * FROM d WHERE environment = 'production'),
succ AS (SELECT service, environment, ts FROM prod WHERE outcome = 'success'),
links AS (SELECT deployment, count(*) AS n, count(resolved_at) AS resolved,
                 max(resolved_at) AS last_resolved
          FROM i WHERE deployment IS NOT NULL GROUP BY deployment),
done AS (
  SELECT prod.*, (outcome = 'failure' OR links.n IS NOT NULL) AS failed,
         links.n AS incidents, links.resolved, links.last_resolved
  FROM prod LEFT JOIN links ON links.deployment = prod.id
  WHERE outcome IN ('success', 'failure') AND ts >= {since} AND ts < {until}),
shipped AS (
  SELECT s.ts - c.committed_at AS lead
  FROM c JOIN prod d0 ON c.deployment = d0.id
  ASOF JOIN succ s ON d0.service = s.service AND d0.environment = s.environment
                  AND s.ts >= d0.ts
  WHERE s.ts >= {since} AND s.ts < {until}),
recovery AS (
  SELECT CASE WHEN f.incidents IS NOT NULL THEN
              CASE WHEN f.resolved = f.incidents THEN f.last_resolved - f.ts END
         ELSE (SELECT min(s.ts) FROM succ s
               WHERE s.service = f.service AND s.environment = f.environment AND s.ts > f.ts)
              - f.ts END AS seconds
  FROM done f WHERE f.failed)
SELECT
  (SELECT count(*) FROM done WHERE outcome = 'success') AS successes,
  (SELECT count(*) FROM done) AS completed,
  (SELECT count(*) FROM done WHERE failed) AS failed,
  (SELECT count(DISTINCT (ts + 32400) // 86400) FROM done WHERE outcome = 'success') AS deploy_days,
  (SELECT count(*) FROM shipped WHERE lead >= 0) AS changes,
  (SELECT count(*) FROM shipped WHERE lead < 0) AS skewed,
  (SELECT quantile_cont(lead, [0.5, 0.75, 0.9]) FROM shipped WHERE lead >= 0) AS lead,
  (SELECT median(seconds) FROM recovery WHERE seconds IS NOT NULL) AS recovery_median,
  (SELECT count(*) FROM recovery WHERE seconds IS NULL) AS unrecovered
""").fetchone()
t2 = time.perf_counter()
(successes, completed, failed, deploy_days, changes, skewed, lead, recovery_median,
 unrecovered) = figures
print(json.dumps({
    "deployments_per_day": successes / days,
    "deployments_per_week": successes / weeks,
    "deploy_days_per_week": deploy_days / weeks,
    "successful_deployments": successes,
    "completed_deployments": completed,
    "failed_deployments": failed,
    "change_failure_rate": failed / completed if completed else None,
    "changes": changes,
    "skewed": skewed,
    "lead_time_p50_s": lead[0], "lead_time_p75_s": lead[1], "lead_time_p90_s": lead[2],
    "recovery_median_s": recovery_median,
    "unrecovered": unrecovered,
    "load_s": t1 - t0,
    "compute_s": t2 - t1,
}, indent=1))
