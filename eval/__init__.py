"""Evaluation: benchmark tasks as data, batch evaluation, results files and the leaderboard."""
