import AnalyticsService
import SwitchyardRuntime

await ServiceRuntime.main(AnalyticsApp.definition)
