from zoneinfo import available_timezones

from django import forms

from portal.models import UserProfile


class ProfileForm(forms.ModelForm):
    time_zone = forms.ChoiceField(choices=[(tz, tz) for tz in sorted(available_timezones())])

    class Meta:
        model = UserProfile
        fields = ["time_zone"]
