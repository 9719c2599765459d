import RealtimeService
import SwitchyardRuntime

await ServiceRuntime.main(RealtimeApp.definition)
