"""The criteria catalogue hazards are judged by (隐患判定标准): criteria sets, clauses, their pages and API."""
