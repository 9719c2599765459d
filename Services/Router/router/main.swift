import RouterService
import SwitchyardRuntime

await ServiceRuntime.main(RouterApp.definition)
