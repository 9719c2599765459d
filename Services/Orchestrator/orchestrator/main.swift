import OrchestratorService
import SwitchyardRuntime

await ServiceRuntime.main(OrchestratorApp.definition)
