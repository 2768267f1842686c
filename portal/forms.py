from zoneinfo import available_timezones

from django import forms

from portal.models import UserProfile


def time_zone_choices() -> list[tuple[str, str]]:
    """Return the IANA zones a person would pick: Area/City names and UTC, no aliases."""
    legacy = ("Etc/", "SystemV/", "US/", "Canada/", "Mexico/", "Brazil/", "Chile/")
    zones = sorted(tz for tz in available_timezones() if "/" in tz and not tz.startswith(legacy))
    return [("UTC", "UTC"), *((tz, tz.replace("_", " ")) for tz in zones)]


class ProfileForm(forms.ModelForm):
    time_zone = forms.ChoiceField(choices=time_zone_choices)

    class Meta:
        model = UserProfile
        fields = ["time_zone"]
