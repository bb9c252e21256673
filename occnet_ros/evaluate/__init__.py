"""occnet_ros.evaluate: Evaluation: metrics, baselines, runs, summaries, reports, benchmarks."""
