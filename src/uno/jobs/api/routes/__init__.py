"""One router per resource of the Jobs API: jobs, schedules, queues, tasks."""
