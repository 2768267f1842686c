import factory
from django.contrib.auth.models import Group, User

from incidents.models import Service, Severity, Team
from incidents.services import incident_declare, incident_trigger


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        if create and extracted:
            for name in extracted:
                self.groups.add(Group.objects.get(name=name))
        if create:
            self.save()


def responder(username: str | None = None, **kwargs) -> User:
    return UserFactory(
        groups=["responders"], **({"username": username} if username else {}), **kwargs
    )


def viewer(username: str | None = None) -> User:
    return UserFactory(groups=["viewers"], **({"username": username} if username else {}))


def manager(username: str | None = None) -> User:
    return UserFactory(groups=["managers"], **({"username": username} if username else {}))


def staff(username: str | None = None) -> User:
    return UserFactory(is_staff=True, **({"username": username} if username else {}))


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")
    email = factory.LazyAttribute(lambda t: f"{t.slug}@example.com")
    time_zone = "Europe/Berlin"


class ServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Service
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Service {n}")
    slug = factory.Sequence(lambda n: f"service-{n}")
    team = factory.SubFactory(TeamFactory)


def severity(code: str) -> Severity:
    return Severity.objects.get(code=code)


def declared(actor: User, code: str = "P1", **kwargs):
    kwargs.setdefault("title", "Payments service returning 503")
    return incident_declare(actor=actor, severity=severity(code), **kwargs)


def triggered(code: str = "P1", **kwargs):
    kwargs.setdefault("title", "PaymentsDown")
    return incident_trigger(severity=severity(code), **kwargs)


def always_on_call(team: Team, user: User, *, email: str | None = None) -> None:
    """Put `user` on call for `team` around the clock (a daily rotation of one); with `email`,
    reachable at that address."""
    from datetime import date, time, timedelta

    from incidents.oncall.models import ContactMethod, Rotation, RotationParticipant, Schedule

    schedule = Schedule.objects.create(
        name=f"{team.name} primary", slug=f"{team.slug}-primary", team=team, time_zone="UTC"
    )
    rotation = Rotation.objects.create(
        schedule=schedule,
        name="Primary",
        shift_length=timedelta(days=1),
        handoff_time=time(9, 0),
        start_date=date(2020, 1, 6),
    )
    RotationParticipant.objects.create(rotation=rotation, user=user, position=0)
    if email:
        ContactMethod.objects.create(user=user, kind=ContactMethod.Kind.EMAIL, address=email)
