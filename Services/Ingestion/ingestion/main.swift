import IngestionService
import SwitchyardRuntime

await ServiceRuntime.main(IngestionApp.definition)
