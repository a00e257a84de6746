from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from . import services


@db_periodic_task(crontab(hour="2", minute="10"))
def disable_dormant_accounts() -> int:
    return services.disable_dormant_accounts()
