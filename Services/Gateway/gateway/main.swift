import GatewayService
import SwitchyardRuntime

await ServiceRuntime.main(GatewayApp.definition)
